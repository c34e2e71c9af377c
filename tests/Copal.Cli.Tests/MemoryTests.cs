using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>Memory follows the work, not the config: context sizing, --ctx-size, and what the commands report.</summary>
public sealed partial class MemoryTests : IDisposable
{
    private readonly TempDir _temp = new("copal-mem-");

    public void Dispose() => _temp.Dispose();

    // stories260K: 5 layers, 4 kv heads × head_dim 8.
    private const long KvBytesPerPosition = 2L * 5 * 4 * 8 * sizeof(float);

    /// <summary>stories260K with its config claiming <paramref name="positions"/> positions of context.</summary>
    private string ModelWithContext(int positions) => ModelWithConfig("max_position_embeddings", 512, positions);

    /// <summary>A copy of stories260K whose config.json says <paramref name="value"/> for <paramref name="key"/> (there <paramref name="was"/>).</summary>
    private string ModelWithConfig(string key, int was, long value)
    {
        string dir = TestData.CopyOfStories260K(_temp.File($"{key}-{value}"));
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        string changed = Regex.Replace(config, $"\"{key}\": *{was}", $"\"{key}\": {value}");
        Assert.NotEqual(config, changed);
        File.WriteAllText(Path.Combine(dir, "config.json"), changed);
        return dir;
    }

    [Fact]
    public void Generate_on_a_context_of_int_max_positions_sizes_the_cache_to_the_prompt_and_n()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", ModelWithContext(int.MaxValue), "-n", "5", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        JsonElement root = doc.RootElement;
        // BOS alone, then 5 tokens: the published greedy ids.
        Assert.Equal([403, 407, 261, 378, 432], root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(6, root.GetProperty("ctx_size").GetInt32());
        Assert.Equal(6 * KvBytesPerPosition, root.GetProperty("kv_cache_bytes").GetInt64());
    }

    [Fact]
    public void Generate_verbose_reports_the_KV_cache_bytes()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-n", "9", "--device", "cpu", "--verbose");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"KV cache {10 * KvBytesPerPosition} bytes", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("context 10 positions (model: 512)", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Ctx_size_bounds_the_run_and_names_both_numbers()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-n", "50", "--ctx-size", "8", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using (JsonDocument doc = JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal("context_full", doc.RootElement.GetProperty("stop_reason").GetString());
            Assert.Equal(7, doc.RootElement.GetProperty("ids").GetArrayLength());
            Assert.Equal(8 * KvBytesPerPosition, doc.RootElement.GetProperty("kv_cache_bytes").GetInt64());
        }

        AssertUsage(CopalProcess.Run("generate", "-m", TestData.Stories260K, "-n", "1", "--ctx-size", "600", "--device", "cpu"),
            "--ctx-size 600 exceeds the model's context of 512 positions");
        AssertUsage(CopalProcess.Run("generate", "-m", TestData.Stories260K, "-p", "Once upon a time there was a dog", "--ctx-size", "4", "--device", "cpu"),
            "longer than --ctx-size 4");
        AssertUsage(CopalProcess.Run("generate", "-m", TestData.Stories260K, "--ctx-size", "0", "--device", "cpu"), "--ctx-size: expected an integer ≥ 1, got 0");
        AssertUsage(CopalProcess.Run("perplexity", "-m", TestData.Stories260K, "--data", TestData.Path("text", "tinystories", "eval.txt"), "--seqlen", "256", "--ctx-size", "128", "--device", "cpu"),
            "--seqlen 256 exceeds --ctx-size 128");
    }

    [Fact]
    public void Bench_json_reports_the_KV_cache_bytes()
    {
        CopalProcess.Result r = CopalProcess.Run("bench", "-m", TestData.Stories260K, "--prefill", "8", "--decode", "4", "--repeat", "1", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(12 * KvBytesPerPosition, doc.RootElement.GetProperty("kv_cache_bytes").GetInt64());
        AssertUsage(CopalProcess.Run("bench", "-m", TestData.Stories260K, "--prefill", "500", "--decode", "32", "--device", "cpu"),
            "--prefill 500 + --decode 32 = 532 positions exceed the model's context of 512 tokens");
        // Within a huge context, a prefill whose activations no memory holds is refused with the figure, not run out of memory.
        AssertUsage(CopalProcess.Run("bench", "-m", ModelWithContext(1 << 30), "--prefill", "1073741800", "--decode", "24", "--device", "cpu"),
            "--prefill 1073741800 + --decode 24: the activations, KV cache and RoPE tables would take 6.12 TiB, more than the cpu device's");
    }

    private static string Calib => TestData.Path("text", "tinystories", "calib.txt");

    /// <summary>
    /// logits reads a block of positions at a time: for 1,125 positions of a 32,000-token vocabulary it used to hold
    /// every position's logits (144 MB) on the managed heap, twice over with the copies it sorted, for an answer of
    /// 1,125 × 5 entries. Under a 64 MB managed-heap limit that ran out of memory; the blocks need a few MB.
    /// </summary>
    [Fact]
    public void Logits_top_k_of_a_long_text_holds_a_block_of_positions_not_all_of_them()
    {
        string config = _temp.File("config.json");
        File.WriteAllText(config, Regex.Replace(Regex.Replace(File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json")),
            "\"vocab_size\": *512", "\"vocab_size\": 32000"), "\"max_position_embeddings\": *512", "\"max_position_embeddings\": 2048"));
        string model = _temp.File("vocab32k");
        CopalProcess.Result synth = CopalProcess.Run("synth", "--config", config, "--tokenizer", TestData.Path("tokenizers", "llama2"), "-o", model);
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        string text = File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt"))[..4000];
        string output = _temp.File("logits.json");
        CopalProcess.Result r = CopalProcess.RunInShell("export DOTNET_GCHeapHardLimit=0x4000000",
            "logits", "-m", model, "-t", text, "--top-k", "5", "-o", output, "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(output));
        JsonElement[] rows = [.. doc.RootElement.GetProperty("logits").EnumerateArray()];
        Assert.True(rows.Length > 1000, $"{rows.Length} positions");
        Assert.All(rows, row => Assert.Equal(5, row.GetArrayLength()));

        // Full rows (--top-k 0) are written as they are computed: 150-odd positions of 32,000 logits are about 50 MB of
        // JSON text, which used to be built whole in memory (twice that as a string, beside every row's floats) and ran
        // out of memory under that limit; the document now streams into the output file.
        File.Delete(output);
        string shorter = text[..700];
        r = CopalProcess.RunInShell("export DOTNET_GCHeapHardLimit=0x4000000",
            "logits", "-m", model, "-t", shorter, "-o", output, "--device", "cpu");
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        using (JsonDocument full = JsonDocument.Parse(File.ReadAllBytes(output)))
        {
            int positions = full.RootElement.GetProperty("ids").GetArrayLength();
            JsonElement[] fullRows = [.. full.RootElement.GetProperty("logits").EnumerateArray()];
            Assert.True(positions > 100, $"{positions} positions");
            Assert.Equal(positions, fullRows.Length);
            Assert.All(fullRows, row => Assert.Equal(32000, row.GetArrayLength()));
        }
        Assert.DoesNotContain(Directory.GetFiles(_temp.Path), f => Path.GetFileName(f).StartsWith('.'));
    }

    /// <summary>
    /// --top-k gives each position's k likeliest tokens, the likeliest first and ties by lower id, with their
    /// log-probabilities: the full rows of the same run (k = 0), ranked here, give the same entries.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(512)]
    public void Logits_top_k_is_the_full_rows_ranked(int k)
    {
        const string text = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
        string full = _temp.File("full.json");
        string top = _temp.File("top.json");
        Assert.Equal(0, CopalProcess.Run("logits", "-m", TestData.Stories260K, "-t", text, "-o", full, "--device", "cpu").ExitCode);
        Assert.Equal(0, CopalProcess.Run("logits", "-m", TestData.Stories260K, "-t", text, "--top-k", k.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", top, "--device", "cpu").ExitCode);
        using JsonDocument fullDoc = JsonDocument.Parse(File.ReadAllText(full));
        using JsonDocument topDoc = JsonDocument.Parse(File.ReadAllText(top));
        JsonElement[] fullRows = [.. fullDoc.RootElement.GetProperty("logits").EnumerateArray()];
        JsonElement[] topRows = [.. topDoc.RootElement.GetProperty("logits").EnumerateArray()];
        Assert.Equal(fullRows.Length, topRows.Length);
        for (int t = 0; t < fullRows.Length; t++)
        {
            float[] row = [.. fullRows[t].EnumerateArray().Select(e => e.GetSingle())];
            double max = row.Max();
            double lse = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
            int[] expected = [.. Enumerable.Range(0, row.Length).OrderByDescending(i => row[i]).ThenBy(i => i).Take(k)];
            JsonElement[] entries = [.. topRows[t].EnumerateArray()];
            Assert.Equal(expected, entries.Select(e => e.GetProperty("id").GetInt32()));
            for (int i = 0; i < k; i++)
            {
                Assert.True(Math.Abs(entries[i].GetProperty("logprob").GetDouble() - (row[expected[i]] - lse)) <= 1e-9,
                    $"position {t}, id {expected[i]}: {entries[i].GetProperty("logprob").GetDouble()} against {row[expected[i]] - lse}");
            }
        }
    }

    [Fact]
    public void Prune_refuses_more_samples_than_the_text_gives()
    {
        // calib.txt is 89,438 tokens: ⌊89,437 / 512⌋ = 174 non-overlapping windows of 512.
        string outDir = _temp.File("out");
        AssertUsage(CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "wanda", "--sparsity", "0.5",
                "--calib", Calib, "--nsamples", "200", "--seqlen", "512", "--device", "cpu"),
            "--nsamples 200 × --seqlen 512 asks calibration text");
        AssertUsage(CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "wanda", "--sparsity", "0.5",
                "--calib", Calib, "--nsamples", "200", "--seqlen", "512", "--device", "cpu"),
            "give at most 174 non-overlapping windows of 512: use --nsamples ≤ 174 or --seqlen ≤ 447");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Prune_says_what_the_text_gives_and_what_the_calibration_costs()
    {
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", _temp.File("out"), "--method", "wanda", "--sparsity", "0.5",
            "--calib", Calib, "--nsamples", "8", "--seqlen", "128", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("the text gives at most 698 non-overlapping windows of 128", r.Stderr, StringComparison.Ordinal);
        // Activations: 8 × 128 tokens × 64 hidden × 4 bytes = 256 KiB.
        Assert.Contains("(activations 256.0 KiB for 8 × 128 tokens", r.Stderr, StringComparison.Ordinal);
        Assert.Matches(@"estimated memory [0-9.]+ [KMG]iB \(activations .*\) of [0-9.]+ GiB available", r.Stderr);
    }

    /// <summary>
    /// One layer's pruning alone passes any machine's memory: refused before any work as a failure of the run (exit 1),
    /// not a usage error, since no --nsamples or --seqlen, the options exit 2 and its pointer at --help lead to, fits.
    /// </summary>
    [Fact]
    public void Prune_refuses_a_calibration_that_cannot_fit_in_memory()
    {
        // A config whose MLP is 2^20 wide: SparseGPT's down_proj Hessian alone would be 2^40 doubles.
        string model = ModelWithConfig("intermediate_size", 172, 1 << 20);
        string outDir = _temp.File("out");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", outDir, "--method", "sparsegpt", "--sparsity", "0.5",
            "--calib", Calib, "--nsamples", "4", "--seqlen", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.StartsWith("copal: error: --nsamples 4 × --seqlen 64 needs an estimated ", error, StringComparison.Ordinal);
        Assert.EndsWith("whatever --nsamples and --seqlen: use a machine with more memory", error, StringComparison.Ordinal);
        Assert.DoesNotContain("--help", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Continual_refuses_more_samples_than_a_dataset_gives()
    {
        // The first half of calib.txt (its calibration split) holds fewer than 100 windows of 512.
        string outDir = _temp.File("report");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", TestData.Stories260K, "--datasets", $"a={Calib}", "--methods", "magnitude", "--no-joint",
            "--sparsity", "0.5", "--nsamples", "100", "--seqlen", "512", "--eval-limit-chunks", "1", "-o", outDir, "--device", "cpu");
        AssertUsage(r, $"--nsamples 100 × --seqlen 512 asks calibration text '{Calib}' (first half) of 'a' for 100 windows");
        Assert.False(Directory.Exists(outDir));
    }

    private static void AssertUsage(CopalProcess.Result r, string expected)
    {
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}, expected 2; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
    }
}
