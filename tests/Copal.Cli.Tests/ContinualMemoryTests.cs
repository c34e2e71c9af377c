using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// continual's perplexity windows are sized by --eval-seqlen: one the memory cannot hold is refused naming that
/// option and its value, as perplexity names --seqlen, not "a shorter context", which continual has no option for.
/// </summary>
public sealed class ContinualMemoryTests : IDisposable
{
    private readonly TempDir _temp = new("copal-contmem-");

    public void Dispose() => _temp.Dispose();

    [MemoryCgroupFact]
    public void An_evaluation_window_that_cannot_fit_is_refused_naming_eval_seqlen()
    {
        string model = WideMlpModel.Write(_temp.Path);
        string eval = TestData.Path("text", "tinystories", "eval.txt");
        string datasets = $"a={TestData.Path("text", "tinystories", "calib.txt")}:{eval},b={TestData.Path("text", "tinystories", "sample.txt")}:{eval}";

        using MemoryCgroup cgroup = MemoryCgroup.Create(256L << 20);
        CopalProcess.Result r = CopalProcess.RunInShell(cgroup.JoinCommand,
            "continual", "-m", model, "--datasets", datasets, "--methods", "magnitude", "--sparsity", "0.5", "--nsamples", "1",
            "--seqlen", "128", "--eval-seqlen", "2048", "--no-joint", "-o", _temp.File("report"), "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.Contains("host memory is short: 512.0 MiB for a buffer of", error, StringComparison.Ordinal);
        Assert.EndsWith("; a shorter --eval-seqlen (now 2048) needs less", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("report")));
    }
}
