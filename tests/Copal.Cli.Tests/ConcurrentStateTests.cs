using System.Diagnostics;
using System.Globalization;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// Two <c>prune --method copal --state S</c> runs at once on one S. Each renamed its two state files into S after its
/// model, so a second run committing between the first's two renames left S with the first's manifest beside the
/// second's tensors, both runs exiting 0 (a later <c>--resume S</c> refused the pair, and neither run's state was
/// there); and two runs that both found S empty both wrote it, the later replacing the other's state without --force.
/// A run now holds a lock on S from before its work until its state is in place, and a second run is refused at once.
/// Run A is stopped (strace injects SIGSTOP just after a chosen rename, so no timing is involved) while run B starts.
/// </summary>
public sealed class ConcurrentStateTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-concurrent-state-").FullName;
    private readonly string _calib = TestData.Path("text", "tinystories", "calib.txt");

    private static readonly string[] s_stateFiles = ["copal-state.safetensors", "copal-state.json"];

    private string[] StepArgs(string outDir, string state, int seed, bool force = false)
    {
        var args = new List<string> { "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5",
            "--calib", _calib, "--nsamples", "2", "--seqlen", "32", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--device", "cpu", "--state", state };
        if (force)
        {
            args.Add("--force");
        }
        return [.. args];
    }

    /// <summary>
    /// Runs A, stopped by SIGSTOP just after its rename onto <paramref name="stopAfterRenameOnto"/>; while it is stopped,
    /// runs B; then lets A go on. Returns both results. Which rename that is, strace's count of that call in A's thread,
    /// is read from a traced run of A first (as tools/crash-fuzz does), whose outputs are then removed.
    /// </summary>
    private (CopalProcess.Result A, CopalProcess.Result B) BWhileAIsStopped(string[] a, string[] b, string stopAfterRenameOnto, params string[] outputsOfA)
    {
        (string call, int count) = RenameCount(a, stopAfterRenameOnto);
        foreach (string output in outputsOfA)
        {
            Directory.Delete(output, recursive: true);
        }
        CopalProcess.Result? second = null;
        // The signal lands as the rename returns: A runs nothing more until SIGCONT.
        string strace = $"exec strace -f -qq -o /dev/null -e trace={call} -e inject={call}:signal=STOP:when={count} dotnet \"$@\"";
        CopalProcess.Result first = CopalProcess.RunInShell(strace, (p, _) =>
        {
            Assert.True(SignalledRun.Until(p, () => Path.Exists(stopAfterRenameOnto) && Stopped(p.Id)), $"run A never reached its rename onto '{stopAfterRenameOnto}'");
            second = CopalProcess.Run(b);
            foreach (int copal in Descendants(p.Id))
            {
                SignalledRun.Kill("CONT", copal);
            }
        }, a);
        return (first, second!);
    }

    // The call (rename, renameat2) that renames onto `target` in a traced run of `args`, and how many times its thread made that call until then.
    private (string Call, int Count) RenameCount(string[] args, string target)
    {
        string trace = Path.Combine(_temp, "trace.txt");
        CopalProcess.Result traced = CopalProcess.RunInShell($"exec strace -f -qq -o \"{trace}\" -e trace=rename,renameat,renameat2 dotnet \"$@\"", args);
        Assert.True(traced.ExitCode == 0, traced.Stderr);
        var calls = File.ReadLines(trace).Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^(\d+) +(rename|renameat|renameat2)\((.*)$"))
            .Where(m => m.Success).Select(m => (Thread: m.Groups[1].Value, Call: m.Groups[2].Value, Arguments: m.Groups[3].Value)).ToList();
        int at = calls.FindIndex(c => c.Arguments.Contains($", \"{target}\"", StringComparison.Ordinal));
        Assert.True(at >= 0, $"no rename onto '{target}' in the trace:\n{string.Join('\n', calls)}");
        (string thread, string call, _) = calls[at];
        File.Delete(trace);
        return (call, calls.Take(at + 1).Count(c => c.Thread == thread && c.Call == call));
    }

    // Whether a process under `root` is stopped (SIGSTOP: state T, or t while its tracer has it).
    private static bool Stopped(int root) =>
        Descendants(root).Any(pid => File.ReadAllText($"/proc/{pid}/stat").Split(") ")[^1][0] is 'T' or 't');

    private static List<int> Descendants(int root)
    {
        var found = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out int pid))
        {
            string children = $"/proc/{pid}/task/{pid}/children";
            foreach (string child in File.Exists(children) ? File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries) : [])
            {
                int id = int.Parse(child, CultureInfo.InvariantCulture);
                found.Add(id);
                queue.Enqueue(id);
            }
        }
        return found;
    }

    private static void AssertStateOf(string outDir, string state)
    {
        foreach (string f in s_stateFiles)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(outDir, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(state, f))),
                $"{f} in '{state}' differs from the one in '{outDir}'");
        }
        // And nothing else: no lock file, no staged copy, no record.
        Assert.Equal(s_stateFiles.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(state).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    // A finished, its output's state in --state whole; B refused with the lock's one line, its output never made.
    private static void AssertBRefusedAndAsStateLanded(CopalProcess.Result a, CopalProcess.Result b, string outA, string outB, string state)
    {
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.True(b.ExitCode == 1, $"exit code {b.ExitCode}, expected 1; stderr: {b.Stderr}");
        Assert.Equal(Refusal(state), b.Stderr);
        Assert.False(Path.Exists(outB));
        AssertStateOf(outA, state);
    }

    private static string Refusal(string state) =>
        $"copal: error: --state '{state}' is being written by another copal run, which holds its lock (.copal-state.lock) until its state is in place; "
        + "run again once that run has ended, or choose another folder\n";

    /// <summary>
    /// B with --force, between A's two state renames: B's state went in whole and A's manifest then over B's, a pair no
    /// run wrote. B is refused before any work and A's state lands whole.
    /// </summary>
    [StraceFact]
    public void A_second_run_on_a_state_folder_another_run_is_renaming_into_is_refused_at_once()
    {
        string state = Path.Combine(_temp, "st");
        string outA = Path.Combine(_temp, "outA");
        string outB = Path.Combine(_temp, "outB");

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(outA, state, seed: 1), StepArgs(outB, state, seed: 2, force: true),
            Path.Combine(state, "copal-state.safetensors"), outA, state);

        AssertBRefusedAndAsStateLanded(a, b, outA, outB, state);
    }

    /// <summary>
    /// Two runs that both start on an empty --state, without --force: B, started while A prunes, found the folder empty
    /// and wrote its state, which A's then replaced (exit 0 both). B is refused before any work.
    /// </summary>
    [StraceFact]
    public void A_second_run_on_an_empty_state_folder_another_run_will_write_is_refused_at_once()
    {
        string state = Path.Combine(_temp, "st");
        string outA = Path.Combine(_temp, "outA");
        string outB = Path.Combine(_temp, "outB");

        // A stopped as its model takes its name: its state is staged, nothing of it in --state yet.
        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(outA, state, seed: 1), StepArgs(outB, state, seed: 2), outA, outA, state);

        AssertBRefusedAndAsStateLanded(a, b, outA, outB, state);
    }

    /// <summary>A lock file that a killed run left (its lock ended with it) neither blocks the next run nor stays after it.</summary>
    [Fact]
    public void A_lock_file_a_killed_run_left_is_taken_over_and_removed()
    {
        string state = Directory.CreateDirectory(Path.Combine(_temp, "st")).FullName;
        File.WriteAllBytes(Path.Combine(state, ".copal-state.lock"), []);
        string outA = Path.Combine(_temp, "outA");

        CopalProcess.Result a = CopalProcess.Run(StepArgs(outA, state, seed: 1));

        Assert.True(a.ExitCode == 0, a.Stderr);
        AssertStateOf(outA, state);
    }

    /// <summary>
    /// A lock file that a killed run of another user left (created 0644 under the usual umask, so not writable by this
    /// one) is taken over as this user's own would be: flock needs no write access. It was refused as "cannot write
    /// there: permission denied", though the folder is writable, until someone deleted the file.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_lock_file_a_killed_run_left_that_this_user_may_not_write_is_taken_over_and_removed()
    {
        string state = Directory.CreateDirectory(Path.Combine(_temp, "st")).FullName;
        string lockFile = Path.Combine(state, ".copal-state.lock");
        File.WriteAllBytes(lockFile, []);
        File.SetUnixFileMode(lockFile, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        string outA = Path.Combine(_temp, "outA");

        CopalProcess.Result a = CopalProcess.RunBoundByPermissions(StepArgs(outA, state, seed: 1));

        Assert.True(a.ExitCode == 0, a.Stderr);
        AssertStateOf(outA, state);
    }

    /// <summary>A run refused before its work removes the --state folder it made to hold its lock.</summary>
    [Fact]
    public void A_run_refused_after_locking_a_new_state_folder_leaves_no_folder()
    {
        string state = Path.Combine(_temp, "st", "inner");
        string outA = Path.Combine(_temp, "outA");
        Directory.CreateDirectory(outA);
        File.WriteAllText(Path.Combine(outA, "notes.txt"), "mine");

        CopalProcess.Result a = CopalProcess.Run(StepArgs(outA, state, seed: 1));

        Assert.True(a.ExitCode == 1, $"exit code {a.ExitCode}; stderr: {a.Stderr}");
        Assert.False(Path.Exists(Path.Combine(_temp, "st")));
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
