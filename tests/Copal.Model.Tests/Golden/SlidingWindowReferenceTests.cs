using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// The committed testbed model's trained weights under a Mistral config with a sliding window of 32 positions (its
/// context is 256): logits and perplexity match the independent float64 torch reference, which masks each query's
/// keys as transformers does (tools/reference, <c>window-goldens</c>). Without the window the reference's perplexity
/// differs by 2.5%, so a model that ignored the window could not pass.
/// </summary>
public sealed class SlidingWindowReferenceTests : IDisposable
{
    private readonly string _model = Directory.CreateTempSubdirectory("copal-window-ref-").FullName;
    private readonly JsonElement _golden = JsonDocument.Parse(File.ReadAllText(
        TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", $"{TestbedReferenceTests.ModelName}_window32.json"))).RootElement;

    public SlidingWindowReferenceTests()
    {
        // The testbed model's files, its config changed as the golden's was.
        string source = TestData.RepoPath("testbed", "models", TestbedReferenceTests.ModelName);
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(_model, Path.GetFileName(file)));
        }
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        foreach (KeyValuePair<string, JsonNode?> change in JsonNode.Parse(_golden.GetProperty("config_changes").GetRawText())!.AsObject())
        {
            config[change.Key] = change.Value?.DeepClone();
        }
        File.WriteAllText(Path.Combine(_model, "config.json"), config.ToJsonString());
    }

    public void Dispose() => Directory.Delete(_model, recursive: true);

    private int[] Tokens()
    {
        string text = TextDataset.Load(TestData.RepoPath("testbed", "data", "stories", _golden.GetProperty("text").GetString()!));
        int[] ids = CopalTokenizer.FromDirectory(_model).Encode(text[.._golden.GetProperty("characters").GetInt32()]);
        Assert.Equal(_golden.GetProperty("tokens").GetInt32(), ids.Length);
        Assert.Equal(Ints(_golden.GetProperty("first_16_ids")), ids[..16]);
        Assert.Equal(Ints(_golden.GetProperty("last_16_ids")), ids[^16..]);
        return ids;
    }

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    [Fact]
    public void Logits_match_the_reference()
    {
        JsonElement c = _golden.GetProperty("case");
        int[] ids = Ints(c.GetProperty("ids"));
        Assert.Equal(ids, Tokens()[..ids.Length]);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(_model, backend);
        Assert.Equal(32, model.Config.SlidingWindow);
        int vocab = model.Config.VocabSize;
        using RunState state = model.CreateState(ids.Length, allRowLogits: true);
        model.Forward(state, ids, 0, LogitsMode.All);
        float[] logits = model.ReadLogits(state, ids.Length);
        int[] argmax = Ints(c.GetProperty("argmax"));
        double[] logSumExp = [.. c.GetProperty("logsumexp").EnumerateArray().Select(e => e.GetDouble())];
        int t = 0;
        foreach (JsonElement row in c.GetProperty("logits").EnumerateArray())
        {
            ReadOnlySpan<float> actual = logits.AsSpan(t * vocab, vocab);
            int[] at = Ints(row.GetProperty("ids"));
            float[] expected = [.. row.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble())];
            var picked = new float[at.Length];
            for (int k = 0; k < at.Length; k++)
            {
                picked[k] = actual[at[k]];
            }
            Tolerances.AssertClose(picked, expected, relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"top logits at position {t}");
            Assert.Equal(argmax[t], Sampler.ArgMax(actual));
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in actual)
            {
                max = Math.Max(max, v);
            }
            foreach (float v in actual)
            {
                sum += Math.Exp(v - max);
            }
            Assert.True(Math.Abs(max + Math.Log(sum) - logSumExp[t]) <= Tolerances.LogitsAbsolute,
                $"logsumexp at position {t}: {max + Math.Log(sum):R}, reference {logSumExp[t]:R}");
            t++;
        }
        Assert.Equal(ids.Length, t);
    }

    [Fact]
    public void Perplexity_matches_the_reference_and_not_full_attention()
    {
        JsonElement r = _golden.GetProperty("perplexity");
        double expected = r.GetProperty("ppl").GetDouble();
        double without = _golden.GetProperty("perplexity_without_window").GetProperty("ppl").GetDouble();
        // The golden separates the two: a run that ignored the window would be far outside the tolerance.
        Assert.True(Math.Abs(without - expected) > 100 * Tolerances.PerplexityRelative * expected, $"window {expected:R}, none {without:R}");
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(_model, backend);
        PerplexityResult result = PerplexityEvaluator.Evaluate(model, Tokens(), new PerplexityOptions(r.GetProperty("seqlen").GetInt32()));
        Assert.Equal(r.GetProperty("predicted_tokens").GetInt64(), result.PredictedTokens);
        Assert.True(Math.Abs(result.Perplexity - expected) <= Tolerances.PerplexityRelative * expected,
            $"ppl {result.Perplexity:R}, reference {expected:R} (relative difference {Math.Abs(result.Perplexity - expected) / expected:E2})");
    }
}
