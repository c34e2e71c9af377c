using System.Text.Json;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// The golden files written by tools/reference/llama_reference.py parse and are self-consistent. They are the
/// expected values of the model tests; these checks only guard the files themselves (no model runs here).
/// </summary>
public class GoldenFilesTests
{
    /// <summary>Greedy ids from BOS published for stories260K (shared/data/README.md).</summary>
    private static readonly int[] s_publishedGreedy61 =
    [
        1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
        408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388,
        426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415,
    ];

    private const int Vocab = 512;

    private static JsonDocument Load(string name)
    {
        string path = TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", name);
        Assert.True(File.Exists(path), path);
        Assert.True(new FileInfo(path).Length < 1_000_000, $"{name} must stay under 1 MB");
        return JsonDocument.Parse(File.ReadAllBytes(path));
    }

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    [Fact]
    public void Logits_golden_has_512_logits_per_position_and_consistent_argmax_and_logsumexp()
    {
        using JsonDocument doc = Load("stories260K_logits.json");
        JsonElement root = doc.RootElement;
        Assert.Equal("stories260K", root.GetProperty("model").GetString());
        Assert.Equal("float64", root.GetProperty("dtype").GetString());
        JsonElement[] cases = root.GetProperty("cases").EnumerateArray().ToArray();
        Assert.Equal(4, cases.Length);
        foreach (JsonElement c in cases)
        {
            string name = c.GetProperty("name").GetString()!;
            Assert.NotNull(c.GetProperty("text").GetString());
            int[] ids = Ints(c.GetProperty("ids"));
            Assert.NotEmpty(ids);
            Assert.Equal(1, ids[0]);
            Assert.All(ids, id => Assert.InRange(id, 0, Vocab - 1));
            JsonElement[] rows = c.GetProperty("logits").EnumerateArray().ToArray();
            int[] argmax = Ints(c.GetProperty("argmax"));
            double[] lse = Doubles(c.GetProperty("logsumexp"));
            Assert.Equal(ids.Length, rows.Length);
            Assert.Equal(ids.Length, argmax.Length);
            Assert.Equal(ids.Length, lse.Length);
            for (int p = 0; p < rows.Length; p++)
            {
                double[] row = Doubles(rows[p]);
                Assert.True(row.Length == Vocab, $"{name}[{p}]: {row.Length} logits");
                Assert.All(row, v => Assert.True(double.IsFinite(v)));
                int best = 0;
                for (int i = 1; i < row.Length; i++)
                {
                    if (row[i] > row[best])
                    {
                        best = i;
                    }
                }
                // Rounding to 6 decimals could only tie two logits closer than 1e-6; none are that close at the top.
                Assert.True(argmax[p] == best, $"{name}[{p}]: argmax {argmax[p]} but the stored logits peak at {best}");
                double max = row[best];
                double sum = row.Sum(v => Math.Exp(v - max));
                double recomputed = max + Math.Log(sum);
                Assert.True(Math.Abs(recomputed - lse[p]) <= 1e-5,
                    $"{name}[{p}]: logsumexp {lse[p]} vs {recomputed} from the stored logits");
            }
        }
    }

    [Fact]
    public void Greedy_golden_starts_with_the_published_ids_and_agrees_with_the_logits_golden()
    {
        using JsonDocument doc = Load("stories260K_greedy.json");
        JsonElement root = doc.RootElement;
        int[] ids = Ints(root.GetProperty("ids"));
        Assert.True(ids.Length >= s_publishedGreedy61.Length, $"only {ids.Length} ids");
        Assert.Equal(s_publishedGreedy61, ids.Take(s_publishedGreedy61.Length).ToArray());
        Assert.True(ids.Length <= 1 + 256);
        Assert.DoesNotContain(1, ids.Skip(1));
        Assert.Equal(ids.Length - 1, root.GetProperty("new_tokens").GetInt32());
        string text = root.GetProperty("text").GetString()!;
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", text, StringComparison.Ordinal);
        Assert.True(root.GetProperty("matches_published_61_ids").GetBoolean());

        // The BOS-only and "Once upon a time" logits cases are prefixes of the greedy run: their argmax must be
        // the next greedy token.
        using JsonDocument logits = Load("stories260K_logits.json");
        foreach (JsonElement c in logits.RootElement.GetProperty("cases").EnumerateArray())
        {
            int[] caseIds = Ints(c.GetProperty("ids"));
            if (!caseIds.SequenceEqual(ids.Take(caseIds.Length)))
            {
                continue;
            }
            int[] argmax = Ints(c.GetProperty("argmax"));
            for (int p = 0; p < caseIds.Length && p + 1 < ids.Length; p++)
            {
                Assert.Equal(ids[p + 1], argmax[p]);
            }
        }
    }

    [Fact]
    public void Perplexity_golden_is_exp_of_the_mean_nll_over_whole_windows()
    {
        using JsonDocument doc = Load("stories260K_perplexity.json");
        JsonElement[] datasets = doc.RootElement.GetProperty("datasets").EnumerateArray().ToArray();
        Assert.Equal(4, datasets.Length);
        foreach (JsonElement d in datasets)
        {
            string name = d.GetProperty("name").GetString()!;
            int tokens = d.GetProperty("tokens").GetInt32();
            int[] first = Ints(d.GetProperty("first_16_ids"));
            Assert.Equal(16, first.Length);
            Assert.Equal(1, first[0]);
            Assert.False(string.IsNullOrEmpty(d.GetProperty("preprocessing").GetString()));
            JsonElement[] results = d.GetProperty("results").EnumerateArray().ToArray();
            Assert.Equal([512, 128], results.Select(r => r.GetProperty("seqlen").GetInt32()).ToArray());
            foreach (JsonElement r in results)
            {
                int seqlen = r.GetProperty("seqlen").GetInt32();
                int windows = r.GetProperty("windows").GetInt32();
                long count = r.GetProperty("predicted_tokens").GetInt64();
                double nllSum = r.GetProperty("nll_sum").GetDouble();
                double nllMean = r.GetProperty("nll_mean").GetDouble();
                double ppl = r.GetProperty("ppl").GetDouble();
                Assert.Equal(tokens / seqlen, windows);
                Assert.True(windows > 0, name);
                Assert.Equal((long)windows * (seqlen - 1), count);
                Assert.Equal(tokens - windows * seqlen, r.GetProperty("tokens_dropped").GetInt32());
                Assert.True(Math.Abs(nllMean - nllSum / count) <= 1e-12 * Math.Abs(nllMean), $"{name}/{seqlen}: mean");
                double expected = Math.Exp(nllSum / count);
                Assert.True(Math.Abs(ppl - expected) <= 1e-12 * expected, $"{name}/{seqlen}: ppl {ppl} vs {expected}");
                Assert.True(ppl > 1 && ppl < Vocab * 4, $"{name}/{seqlen}: ppl {ppl}");
            }
        }
    }
}
