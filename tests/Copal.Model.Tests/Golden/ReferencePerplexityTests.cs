using System.Text.Json;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// Perplexity under the literature's protocol against the independent float64 reference: the same tokens, the same
/// windows, and perplexity within <see cref="Tolerances.PerplexityRelative"/>. The full datasets take minutes, so
/// the test runs the WikiText-2 slice and checks the tokenization of every dataset (count and first/last ids).
/// </summary>
public sealed class ReferencePerplexityTests
{
    private static readonly Lazy<JsonElement[]> s_datasets = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", "stories260K_perplexity.json")))
            .RootElement.GetProperty("datasets").EnumerateArray().ToArray());

    private static readonly CopalTokenizer s_tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    private static JsonElement Dataset(string name) => s_datasets.Value.Single(d => d.GetProperty("name").GetString() == name);

    private static int[] Ids(JsonElement e, string property) => e.GetProperty(property).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static int[] Tokens(string name) => name switch
    {
        "wikitext2_test_first20000chars" => s_tokenizer.Encode(FirstCodePoints(TextDataset.Load(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt")), 20000)),
        "wikitext2_test" => s_tokenizer.Encode(TextDataset.Load(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"))),
        "ptb_test" => s_tokenizer.Encode(TextDataset.Load(TestData.Path("text", "ptb", "ptb.test.txt"), TextLayout.JoinedLines)),
        "tinystories_eval" => s_tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt"))),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static string FirstCodePoints(string text, int count)
    {
        // Python slices by code point; a surrogate pair is one.
        int end = 0, n = 0;
        for (int i = 0; i < text.Length && n < count; n++)
        {
            i += char.IsSurrogatePair(text, i) ? 2 : 1;
            end = i;
        }
        return text[..end];
    }

    [Theory]
    [InlineData("wikitext2_test_first20000chars")]
    [InlineData("wikitext2_test")]
    [InlineData("ptb_test")]
    [InlineData("tinystories_eval")]
    public void Tokenization_matches_the_reference(string name)
    {
        JsonElement d = Dataset(name);
        int[] ids = Tokens(name);
        Assert.Equal(d.GetProperty("tokens").GetInt32(), ids.Length);
        Assert.Equal(Ids(d, "first_16_ids"), ids[..16]);
        Assert.Equal(Ids(d, "last_16_ids"), ids[^16..]);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(128)]
    public void WikiText_slice_perplexity_matches_the_reference(int seqLen)
    {
        JsonElement result = Dataset("wikitext2_test_first20000chars").GetProperty("results").EnumerateArray()
            .Single(r => r.GetProperty("seqlen").GetInt32() == seqLen);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        PerplexityResult r = PerplexityEvaluator.Evaluate(model, Tokens("wikitext2_test_first20000chars"), new PerplexityOptions(seqLen));
        Assert.Equal(result.GetProperty("windows").GetInt32(), r.Chunks);
        Assert.Equal(result.GetProperty("predicted_tokens").GetInt64(), r.PredictedTokens);
        double expected = result.GetProperty("ppl").GetDouble();
        Assert.True(Math.Abs(r.Perplexity - expected) <= Tolerances.PerplexityRelative * expected,
            $"ppl {r.Perplexity:R}, reference {expected:R} (relative difference {Math.Abs(r.Perplexity - expected) / expected:E2})");
    }

    /// <summary>
    /// --stride against the reference's own reading of Hugging Face's sliding-window recipe (a window's targets are the
    /// tokens past the previous window's end), not against the formula the evaluator uses.
    /// </summary>
    [Theory]
    [InlineData(128, 64)]
    [InlineData(100, 37)]
    public void WikiText_slice_sliding_window_perplexity_matches_the_reference(int seqLen, int stride)
    {
        JsonElement result = JsonDocument.Parse(File.ReadAllText(TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", "stories260K_perplexity_stride.json")))
            .RootElement.GetProperty("cases").EnumerateArray()
            .Single(r => r.GetProperty("seqlen").GetInt32() == seqLen && r.GetProperty("stride").GetInt32() == stride);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        PerplexityResult r = PerplexityEvaluator.Evaluate(model, Tokens("wikitext2_test_first20000chars"), new PerplexityOptions(seqLen) { Stride = stride });
        Assert.Equal(result.GetProperty("windows").GetInt32(), r.Chunks);
        Assert.Equal(result.GetProperty("predicted_tokens").GetInt64(), r.PredictedTokens);
        double expected = result.GetProperty("ppl").GetDouble();
        Assert.True(Math.Abs(r.Perplexity - expected) <= Tolerances.PerplexityRelative * expected,
            $"ppl {r.Perplexity:R}, reference {expected:R} (relative difference {Math.Abs(r.Perplexity - expected) / expected:E2})");
    }
}
