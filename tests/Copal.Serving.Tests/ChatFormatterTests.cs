using Copal.Model.Chat;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>Chat requests are rendered by the model's own chat template when its folder has one.</summary>
public sealed class ChatFormatterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("copal-chatfmt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_model_with_a_chat_template_is_formatted_by_it()
    {
        // A ChatML template, as SmolLM2 and Qwen ship it (abridged to the message loop and the generation prompt).
        const string template = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = template, ["eos_token"] = "<|im_end|>" }));

        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir);
        ChatPrompt prompt = formatter.Format([new ChatTurn("system", "Be brief."), new ChatTurn("user", "Hi")]);

        Assert.IsType<TemplateChatFormatter>(formatter);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt.Text);
        Assert.False(prompt.AddSpecialTokens); // the template writes its own special tokens
    }

    [Fact]
    public void A_model_without_a_chat_template_gets_the_plain_formatter()
    {
        Assert.Same(PlainChatFormatter.Instance, TemplateChatFormatter.ForModel(TestData.Stories260K));
    }
}
