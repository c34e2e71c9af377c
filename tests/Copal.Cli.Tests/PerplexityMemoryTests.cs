using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A perplexity window whose buffers the memory cannot hold is refused before any window runs, in one line with the
/// sizes and the option that lowers them: every buffer of the run is sized to --seqlen, and the refusal said only
/// "a shorter context", which perplexity has no option for.
/// </summary>
public sealed class PerplexityMemoryTests : IDisposable
{
    private readonly TempDir _temp = new("copal-pplmem-");

    public void Dispose() => _temp.Dispose();

    [MemoryCgroupFact]
    public void A_window_that_cannot_fit_is_refused_naming_seqlen()
    {
        string model = WideMlpModel.Write(_temp.Path);

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
