using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A prune whose --out would be refused anyway (here: not empty, without --force) is told so first, not that another
/// run holds its model: the "in use" line advises waiting for that run, after which the run would only
/// meet the --out refusal. The other run's lock is taken by this test process (flock is per open file, so it meets the
/// prune's as another run's would): no timing is involved. Linux only (Windows takes no such locks).
/// </summary>
public sealed class RefusalOrderTests : IDisposable
{
    private readonly TempDir _temp = new("copal-refusal-order-");

    public void Dispose() => _temp.Dispose();

    private string Taken()
    {
        string taken = Directory.CreateDirectory(_temp.File("taken")).FullName;
        File.WriteAllText(Path.Combine(taken, "notes.txt"), "mine");
        return taken;
    }

    private static string[] Prune(string model, string outDir) =>
        ["prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu"];

    private static void AssertRefusedForOut(CopalProcess.Result r, string taken)
    {
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Equal($"copal: error: -o '{taken}' exists and is not empty; pass --force to replace it\n", r.Stderr);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(taken).Select(Path.GetFileName));
    }

    [LinuxFact]
    public void A_taken_out_is_said_before_another_runs_lock_on_the_model()
    {
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        string taken = Taken();
        using FolderLock? replacing = FolderLock.TryAcquireToReplace(model);
        Assert.NotNull(replacing);

        AssertRefusedForOut(CopalProcess.Run(Prune(model, taken)), taken);
    }

    /// <summary>
    /// The same for a --state folder another run writes a state into: its "in use" line advises waiting for that run,
    /// after which this one would only be refused for its --out.
    /// </summary>
    [LinuxFact]
    public void A_taken_out_is_said_before_another_runs_lock_on_the_state_folder()
    {
        string taken = Taken();
        string state = Directory.CreateDirectory(_temp.File("state")).FullName;
        using FolderLock? writing = FolderLock.TryAcquireToWrite(state, ".copal-state.lock");
        Assert.NotNull(writing);

        AssertRefusedForOut(CopalProcess.Run(["prune", "-m", TestData.Stories260K, "-o", taken, "--method", "copal", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu", "--state", state]), taken);
        Assert.Empty(Directory.GetFileSystemEntries(state));
    }
}
