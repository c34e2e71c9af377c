using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>Memory follows the work, not the config: context sizing, --ctx-size, and what the commands report.</summary>
public sealed partial class MemoryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-mem-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    // stories260K: 5 layers, 4 kv heads × head_dim 8.
    private const long KvBytesPerPosition = 2L * 5 * 4 * 8 * sizeof(float);

    /// <summary>stories260K with its config claiming <paramref name="positions"/> positions of context.</summary>
    private string ModelWithContext(int positions)
    {
        string dir = Path.Combine(_temp, $"ctx-{positions}");
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(TestData.Stories260K))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        string changed = Regex.Replace(config, "\"max_position_embeddings\": *512", $"\"max_position_embeddings\": {positions}");
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
        AssertUsage(CopalProcess.Run("generate", "-m", TestData.Stories260K, "--ctx-size", "0", "--device", "cpu"), "--ctx-size must be ≥ 1, got 0");
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
    }

    private static void AssertUsage(CopalProcess.Result r, string expected)
    {
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}, expected 2; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
    }
}
