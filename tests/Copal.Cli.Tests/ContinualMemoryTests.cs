using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// continual's perplexity windows are sized by --eval-seqlen: one the memory cannot hold is refused naming that
/// option and its value, as perplexity names --seqlen, not "a shorter context", which continual has no option for.
/// </summary>
public sealed class ContinualMemoryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-contmem-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [MemoryCgroupFact]
    public void An_evaluation_window_that_cannot_fit_is_refused_naming_eval_seqlen()
    {
        // One layer of stories260K's shapes but a 65,536-wide MLP: calibration windows of 128 fit in 256 MiB, and each
        // of the MLP's activations over a perplexity window of 2,048 tokens is 512 MiB.
        string config = Path.Combine(_temp, "config.json");
        string text = File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json"));
        text = Regex.Replace(text, "\"intermediate_size\": *172", "\"intermediate_size\": 65536");
        text = Regex.Replace(text, "\"num_hidden_layers\": *5", "\"num_hidden_layers\": 1");
        text = Regex.Replace(text, "\"max_position_embeddings\": *512", "\"max_position_embeddings\": 4096");
        File.WriteAllText(config, text);
        string model = Path.Combine(_temp, "wide-mlp");
        CopalProcess.Result synth = CopalProcess.Run("synth", "--config", config, "--tokenizer", TestData.Stories260K, "-o", model);
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        string eval = TestData.Path("text", "tinystories", "eval.txt");
        string datasets = $"a={TestData.Path("text", "tinystories", "calib.txt")}:{eval},b={TestData.Path("text", "tinystories", "sample.txt")}:{eval}";

        using MemoryCgroup cgroup = MemoryCgroup.Create(256L << 20);
        CopalProcess.Result r = CopalProcess.RunInShell(cgroup.JoinCommand,
            "continual", "-m", model, "--datasets", datasets, "--methods", "magnitude", "--sparsity", "0.5", "--nsamples", "1",
            "--seqlen", "128", "--eval-seqlen", "2048", "--no-joint", "-o", Path.Combine(_temp, "report"), "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.Contains("host memory is short: 512.0 MiB for a buffer of", error, StringComparison.Ordinal);
        Assert.EndsWith("; a shorter --eval-seqlen (now 2048) needs less", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_temp, "report")));
    }
}
