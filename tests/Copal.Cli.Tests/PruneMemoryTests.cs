using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A prune whose one layer alone passes the memory, whatever its calibration, is refused before any work as a failure
/// of the run (exit 1), not a usage error: no value of --nsamples or --seqlen, the options exit 2 would point at, fits.
/// </summary>
public sealed class PruneMemoryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-prunemem-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [MemoryCgroupFact]
    public void A_prune_no_calibration_fits_is_a_failure_not_a_usage_error()
    {
        // SparseGPT's Hessian of the 65,536-wide down_proj alone is 32 GiB.
        string model = WideMlpModel.Write(_temp);
        string output = Path.Combine(_temp, "pruned");

        using MemoryCgroup cgroup = MemoryCgroup.Create(256L << 20);
        CopalProcess.Result r = CopalProcess.RunInShell(cgroup.JoinCommand,
            "prune", "-m", model, "-o", output, "--method", "sparsegpt", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "1", "--seqlen", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.EndsWith("whatever --nsamples and --seqlen: use a machine with more memory", error, StringComparison.Ordinal);
        Assert.DoesNotContain("--help", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }
}
