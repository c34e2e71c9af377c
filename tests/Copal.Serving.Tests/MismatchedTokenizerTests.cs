using System.Text.Json.Nodes;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// An engine given another model's tokenizer (Llama 2's 32,000 tokens over stories260K's 512-row embedding): the
/// request a prompt's text makes is refused naming the token, the model's vocabulary and the tokenizer's size, as
/// <c>copal generate</c> says it, so the caller learns the tokenizer is the wrong one. The message named only an id
/// outside the vocabulary, as if the text itself were at fault.
/// </summary>
public sealed class MismatchedTokenizerTests : IDisposable
{
    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;

    public MismatchedTokenizerTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }

    [Fact]
    public async Task A_prompt_text_that_the_tokenizer_encodes_past_the_model_is_refused_naming_the_tokenizer()
    {
        CopalTokenizer llama2 = CopalTokenizer.FromDirectory(TestData.Path("tokenizers", "llama2"));
        using var engine = new InferenceEngine(_model, llama2);
        int[] ids = llama2.Encode("Zebra");
        int first = ids.First(id => id >= 512);

        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Zebra", MaxTokens = 2 }));
        Assert.Equal("prompt", e.ParamName);
        Assert.Equal($"the prompt's text holds the token '{llama2.IdToToken(first)}' (id {first}), outside the model's vocabulary [0, 512): "
            + "the engine's tokenizer has 32000 tokens, so it is not this model's", e.Message);

        // Ids given as ids are the caller's own: the message stays about the id.
        e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { PromptIds = [1, first], MaxTokens = 2 }));
        Assert.Equal($"token id {first} is outside the vocabulary [0, 512)", e.Message);
    }

    [Fact]
    public async Task A_token_the_models_own_tokenizer_adds_past_its_rows_is_named_as_added_not_as_another_models()
    {
        // A fine-tune's tokenizer that adds <pad> at id 512 over the 512-row embedding, the model never resized: the
        // tokenizer is this model's, so the message must not say it is another's (a review's finding).
        using var folder = new TempDir("copal-added-token");
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.Stories260K, "tokenizer.json")))!;
        json["added_tokens"]!.AsArray().Add(new JsonObject
        {
            ["id"] = 512, ["content"] = "<pad>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        });
        File.WriteAllText(folder.File("tokenizer.json"), json.ToJsonString());
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(folder.Path);
        using var engine = new InferenceEngine(_model, tokenizer);

        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once<pad>", MaxTokens = 2 }));
        Assert.Equal("prompt", e.ParamName);
        Assert.Equal("the prompt's text holds the token '<pad>' (id 512), outside the model's vocabulary [0, 512): "
            + "the engine's tokenizer adds it past the model's rows, so the model has no embedding for it (added without resizing the model?)", e.Message);
    }
}
