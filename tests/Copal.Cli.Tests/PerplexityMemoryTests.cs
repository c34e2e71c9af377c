using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A perplexity window whose buffers the memory cannot hold is refused before any window runs, in one line with the
/// sizes and the option that lowers them: every buffer of the run is sized to --seqlen, and the refusal said only
/// "a shorter context", which perplexity has no option for.
/// </summary>
public sealed class PerplexityMemoryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-pplmem-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [MemoryCgroupFact]
    public void A_window_that_cannot_fit_is_refused_naming_seqlen()
    {
        // One layer of stories260K's shapes but a 65,536-wide MLP: 6 MB of weights, and 512 MiB for each of the MLP's
        // activations over a window of 2,048 tokens.
        string config = Path.Combine(_temp, "config.json");
        string text = File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json"));
        text = Regex.Replace(text, "\"intermediate_size\": *172", "\"intermediate_size\": 65536");
        text = Regex.Replace(text, "\"num_hidden_layers\": *5", "\"num_hidden_layers\": 1");
        text = Regex.Replace(text, "\"max_position_embeddings\": *512", "\"max_position_embeddings\": 4096");
        File.WriteAllText(config, text);
        string model = Path.Combine(_temp, "wide-mlp");
        CopalProcess.Result synth = CopalProcess.Run("synth", "--config", config, "--tokenizer", TestData.Stories260K, "-o", model);
        Assert.True(synth.ExitCode == 0, synth.Stderr);

        using MemoryCgroup cgroup = MemoryCgroup.Create(256L << 20);
        CopalProcess.Result r = CopalProcess.RunInShell(cgroup.JoinCommand,
            "perplexity", "-m", model, "-d", TestData.Path("text", "tinystories", "eval.txt"), "--seqlen", "2048", "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.Contains("host memory is short: 512.0 MiB for a buffer of", error, StringComparison.Ordinal);
        Assert.EndsWith("; a shorter --seqlen (now 2048) needs less", error, StringComparison.Ordinal);
        Assert.DoesNotContain("perplexity ", r.Stdout, StringComparison.Ordinal);
    }
}
