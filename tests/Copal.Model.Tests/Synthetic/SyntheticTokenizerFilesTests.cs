using Copal.Model.ChatTemplates;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Model.Tests.Synthetic;

/// <summary>The tokenizer files a synthetic model takes from its tokenizer folder.</summary>
public sealed class SyntheticTokenizerFilesTests : IDisposable
{
    private readonly TempDir _temp = new("copal-synth-tok-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_chat_template_saved_apart_travels_with_the_tokenizer()
    {
        // transformers 4.50 and later save a tokenizer's chat template as chat_template.jinja, not in
        // tokenizer_config.json: copied without it, the synthetic model of such a tokenizer had no template, where
        // the same tokenizer saved by an older transformers kept its template.
        string tokenizer = _temp.File("tokenizer");
        Directory.CreateDirectory(tokenizer);
        File.Copy(TestData.Path("tokenizers", "llama2", "tokenizer.json"), Path.Combine(tokenizer, "tokenizer.json"));
        const string template = "{% for m in messages %}<{{ m.content }}>{% endfor %}";
        File.WriteAllText(Path.Combine(tokenizer, "chat_template.jinja"), template);
        string model = _temp.File("model");

        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), model, DType.F32, seed: 1, tokenizerDirectory: tokenizer);

        Assert.Equal(template, File.ReadAllText(Path.Combine(model, "chat_template.jinja")));
        Assert.Equal("<hi>", ChatTemplate.FromDirectory(model)!.Render([new("user", "hi")], false));
    }

    [Fact]
    public void Named_chat_templates_travel_with_the_tokenizer()
    {
        // transformers saves the templates other than the default as additional_chat_templates/NAME.jinja.
        string tokenizer = _temp.File("tokenizer");
        string folder = Directory.CreateDirectory(Path.Combine(tokenizer, "additional_chat_templates")).FullName;
        File.Copy(TestData.Path("tokenizers", "llama2", "tokenizer.json"), Path.Combine(tokenizer, "tokenizer.json"));
        File.WriteAllText(Path.Combine(folder, "tool_use.jinja"), "{% for m in messages %}[{{ m.content }}]{% endfor %}");
        string model = _temp.File("model");

        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), model, DType.F32, seed: 1, tokenizerDirectory: tokenizer);

        Assert.Contains("tool_use", ChatTemplate.FromDirectory(model)!.Names);
    }
}
