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
public sealed partial class ConcurrentStateTests : IDisposable
{
    private readonly TempDir _temp = new("copal-concurrent-state-");
    private readonly string _calib = TestData.Path("text", "tinystories", "calib.txt");

    private static readonly string[] s_stateFiles = ["copal-state.safetensors", "copal-state.json"];

    // The folders the tests name: the --state folder S; the outputs of step 1 (a finished run whose state S then holds),
    // of runs A and B, and of a finished run whose state stands for what a killed run left (StageAKilledRunsStateCopy).
    private string State => _temp.File("st");

    private string Out1 => _temp.File("out1");

    private string OutA => _temp.File("outA");

    private string OutB => _temp.File("outB");

    private string OutKilled => _temp.File("outKilled");

    private string[] StepArgs(string outDir, string? state, int seed, bool force = false, string? resume = null)
    {
        var args = new List<string> { "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5",
            "--calib", _calib, "--nsamples", "2", "--seqlen", "32", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--device", "cpu" };
        if (state is not null)
        {
            args.AddRange(["--state", state]);
        }
        if (resume is not null)
        {
            args.AddRange(["--resume", resume]);
        }
        if (force)
        {
            args.Add("--force");
        }
        return [.. args];
    }

    // A run that must succeed, as a test's setup or its first check.
    private static void Succeeds(string[] args)
    {
        CopalProcess.Result run = CopalProcess.Run(args);
        Assert.True(run.ExitCode == 0, run.Stderr);
    }

    // Step 1, into Out1 with --state S: S then holds its state, for the runs that resume from it or replace it.
    private void RunStepOne() => Succeeds(StepArgs(Out1, State, seed: 1));

    // The finished run whose state StageAKilledRunsStateCopy stages as a killed run's, into OutKilled.
    private void RunTheKilledRun() => Succeeds(StepArgs(OutKilled, _temp.File("killed-state"), seed: 3));

    /// <summary>
    /// Runs A, stopped by SIGSTOP just after its rename onto <paramref name="stopAfterRenameOnto"/>; while it is stopped,
    /// runs B; then lets A go on. Returns both results. Which rename that is, strace's count of that call in A's thread,
    /// is read from a traced run of A first (as tools/crash-fuzz does), whose outputs are then removed.
    /// </summary>
    private (CopalProcess.Result A, CopalProcess.Result B) BWhileAIsStopped(string[] a, string[] b, string stopAfterRenameOnto, params string[] outputsOfA) =>
        BWhileAIsStopped(a, b, stopAfterRenameOnto, () => { }, outputsOfA);

    /// <summary>As above, where <paramref name="prepare"/> sets up what A finds, before the traced run and again before A.</summary>
    private (CopalProcess.Result A, CopalProcess.Result B) BWhileAIsStopped(string[] a, string[] b, string stopAfterRenameOnto, Action prepare, string[] outputsOfA)
    {
        CopalProcess.Result? second = null;
        CopalProcess.Result first = WhileAIsStopped(a, stopAfterRenameOnto, prepare, outputsOfA, p =>
        {
            second = CopalProcess.Run(b);
            Continue(p.Id);
        });
        return (first, second!);
    }

    /// <summary>
    /// Runs A, stopped by SIGSTOP just after its rename onto <paramref name="stopAfterRenameOnto"/>, and calls
    /// <paramref name="whileStopped"/> with it stopped, which lets it go on (<see cref="Continue"/>) or ends it. The
    /// rename is found as <see cref="BWhileAIsStopped(string[], string[], string, Action, string[])"/> says.
    /// </summary>
    private CopalProcess.Result WhileAIsStopped(string[] a, string stopAfterRenameOnto, Action prepare, string[] outputsOfA, Action<Process> whileStopped, string shellPrefix = "")
    {
        prepare();
        (string call, int count) = RenameCount(a, stopAfterRenameOnto);
        foreach (string output in outputsOfA)
        {
            Directory.Delete(output, recursive: true);
        }
        prepare();
        string traceA = _temp.File("a.trace");
        return CopalProcess.RunInShell(StopAfter(call, count, traceA, shellPrefix), (p, _) =>
        {
            Assert.True(SignalledRun.Until(p, () => Stopped(traceA)), $"run A never reached its rename onto '{stopAfterRenameOnto}'");
            whileStopped(p);
        }, a);
    }

    // The shell setup that runs copal under strace, stopped (SIGSTOP) as its thread's `count`th `call` returns: it then
    // runs nothing more until SIGCONT. strace writes `trace`, where the stop is said once it has taken hold. `prefix`
    // runs strace (setpriv, to drop root's capabilities).
    private static string StopAfter(string call, int count, string trace, string prefix = "") =>
        $"exec {prefix}strace -f -qq -o \"{trace}\" -e trace={call} -e inject={call}:signal=STOP:when={count.ToString(CultureInfo.InvariantCulture)} dotnet \"$@\"";

    // Whether the run traced into `trace` (StopAfter) is stopped: a process's state alone cannot tell, as a traced thread
    // is in a tracing stop ('t') at each of its calls too.
    private static bool Stopped(string trace) =>
        File.Exists(trace) && File.ReadAllText(trace).Contains("--- stopped by SIGSTOP ---", StringComparison.Ordinal);

    private static void Continue(int root)
    {
        foreach (int copal in Descendants(root))
        {
            SignalledRun.Kill("CONT", copal);
        }
    }

    // The call (rename, renameat, renameat2) that renames onto `target` in a traced run of `args`, and how many times its thread made that call until then.
    private (string Call, int Count) RenameCount(string[] args, string target) =>
        CallCount(args, ["rename", "renameat", "renameat2"], arguments => arguments.Contains($", \"{target}\"", StringComparison.Ordinal));

    // The first of `calls` whose arguments `isTheOne` picks in a traced run of `args`, and how many times its thread made that call until then.
    private (string Call, int Count) CallCount(string[] args, string[] calls, Func<string, bool> isTheOne, bool mustSucceed = true)
    {
        string trace = _temp.File("trace.txt");
        CopalProcess.Result traced = CopalProcess.RunInShell($"exec strace -f -qq -o \"{trace}\" -e trace={string.Join(',', calls)} dotnet \"$@\"", args);
        Assert.True(!mustSucceed || traced.ExitCode == 0, traced.Stderr);
        var pattern = new System.Text.RegularExpressions.Regex($@"^(\d+) +({string.Join('|', calls)})\((.*)$");
        var made = File.ReadLines(trace).Select(l => pattern.Match(l))
            .Where(m => m.Success).Select(m => (Thread: m.Groups[1].Value, Call: m.Groups[2].Value, Arguments: m.Groups[3].Value)).ToList();
        int at = made.FindIndex(c => isTheOne(c.Arguments));
        Assert.True(at >= 0, $"no such call in the trace:\n{string.Join('\n', made)}");
        (string thread, string call, _) = made[at];
        File.Delete(trace);
        return (call, made.Take(at + 1).Count(c => c.Thread == thread && c.Call == call));
    }

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

    // A finished; B refused with the lock's one line naming `option`, its output never made; `state` holds whole the
    // state of the output `landedFrom` (A's own, or the one whose state A read or settled) and nothing else.
    private static void AssertBRefusedAndAsStateLanded(CopalProcess.Result a, CopalProcess.Result b, string landedFrom, string outB, string state, string option = "--state")
    {
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.True(b.ExitCode == 1, $"exit code {b.ExitCode}, expected 1; stderr: {b.Stderr}");
        Assert.Equal(Refusal(option, state), b.Stderr);
        Assert.False(Path.Exists(outB));
        AssertStateOf(landedFrom, state);
    }

    private static string Refusal(string option, string folder) =>
        $"copal: error: {option} '{folder}' is in use by another copal run, which writes a state there or resumes from it (its lock on the folder ends with it); "
        + "run again once that run has ended, or choose another folder\n";

    /// <summary>
    /// B with --force, between A's two state renames: B's state went in whole and A's manifest then over B's, a pair no
    /// run wrote. B is refused before any work and A's state lands whole.
    /// </summary>
    [StraceFact]
    public void A_second_run_on_a_state_folder_another_run_is_renaming_into_is_refused_at_once()
    {

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, State, seed: 1), StepArgs(OutB, State, seed: 2, force: true),
            Path.Combine(State, "copal-state.safetensors"), OutA, State);

        AssertBRefusedAndAsStateLanded(a, b, OutA, OutB, State);
    }

    /// <summary>
    /// Two runs that both start on an empty --state, without --force: B, started while A prunes, found the folder empty
    /// and wrote its state, which A's then replaced (exit 0 both). B is refused before any work.
    /// </summary>
    [StraceFact]
    public void A_second_run_on_an_empty_state_folder_another_run_will_write_is_refused_at_once()
    {

        // A stopped as its model takes its name: its state is staged, nothing of it in --state yet.
        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, State, seed: 1), StepArgs(OutB, State, seed: 2), OutA, OutA, State);

        AssertBRefusedAndAsStateLanded(a, b, OutA, OutB, State);
    }

    /// <summary>
    /// A lock file that a killed run of an earlier version left in its --state folder (which held its lock through it)
    /// neither blocks the next run nor stays after it: that folder is an output.
    /// </summary>
    [Fact]
    public void A_lock_file_a_killed_run_left_is_removed()
    {
        string state = Directory.CreateDirectory(State).FullName;
        File.WriteAllBytes(Path.Combine(state, ".copal-state.lock"), []);

        Succeeds(StepArgs(OutA, state, seed: 1));

        AssertStateOf(OutA, state);
    }

    /// <summary>
    /// A lock file that a killed run of another user and an earlier version left (created 0644 under the usual umask, so
    /// not writable by this one) is removed as this user's own would be: it is a file in a folder this user may write.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_lock_file_a_killed_run_left_that_this_user_may_not_write_is_removed()
    {
        string state = Directory.CreateDirectory(State).FullName;
        string lockFile = Path.Combine(state, ".copal-state.lock");
        File.WriteAllBytes(lockFile, []);
        File.SetUnixFileMode(lockFile, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        CopalProcess.Result a = CopalProcess.RunBoundByPermissions(StepArgs(OutA, state, seed: 1));

        Assert.True(a.ExitCode == 0, a.Stderr);
        AssertStateOf(OutA, state);
    }

    /// <summary>A run refused before its work removes the --state folder it made to hold its lock.</summary>
    [Fact]
    public void A_run_refused_after_locking_a_new_state_folder_leaves_no_folder()
    {
        string state = Path.Combine(State, "inner");
        Directory.CreateDirectory(OutA);
        File.WriteAllText(Path.Combine(OutA, "notes.txt"), "mine");

        CopalProcess.Result a = CopalProcess.Run(StepArgs(OutA, state, seed: 1));

        Assert.True(a.ExitCode == 1, $"exit code {a.ExitCode}; stderr: {a.Stderr}");
        Assert.False(Path.Exists(State));
    }

    /// <summary>
    /// B resuming from --state S while A, which writes S, has its model in place and its state copy not yet renamed in:
    /// --resume took no lock, so B went on from whatever S held then (and, for a state with Hessians, read them from the
    /// file A put there later), both exiting 0. B is refused before any work, as a second writer is.
    /// </summary>
    [StraceFact]
    public void A_run_resuming_from_a_state_folder_another_run_is_writing_is_refused_at_once()
    {
        RunStepOne();

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, State, seed: 2, force: true, resume: Out1),
            StepArgs(OutB, state: null, seed: 3, resume: State), OutA, OutA);

        AssertBRefusedAndAsStateLanded(a, b, OutA, OutB, State, option: "--resume");
    }

    /// <summary>
    /// The other way round: B writes --state S (with --force) while A resumes from S. B replaced the state A was reading,
    /// both exiting 0; B is refused before any work.
    /// </summary>
    [StraceFact]
    public void A_run_writing_a_state_folder_another_run_resumes_from_is_refused_at_once()
    {
        RunStepOne();

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: State),
            StepArgs(OutB, State, seed: 3, force: true), OutA, OutA);

        // S still holds step 1, the state A continued from, and nothing else.
        AssertBRefusedAndAsStateLanded(a, b, Out1, OutB, State);
    }

    /// <summary>
    /// Two runs on one --state S in which a killed run left its state copy staged with its commit record. Each settled
    /// the record before taking the lock: B, started while A was stopped between the record's two renames, finished them
    /// too, said so, took the lock A did not hold yet and wrote its own state, and both exited 0. The sweep of S is now
    /// made under the lock: A settles the record alone, and B is refused with the lock's one line, S untouched by it.
    /// </summary>
    [StraceFact]
    public void A_killed_runs_state_copy_is_settled_by_one_run_under_the_lock_and_a_second_run_is_refused()
    {
        RunTheKilledRun();
        void StagedByAKilledRun() => StageAKilledRunsStateCopy(OutKilled, State);

        // A stopped just after the record's first rename (the sweep's, before A's own work).
        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, State, seed: 1, force: true), StepArgs(OutB, State, seed: 2, force: true),
            Path.Combine(State, "copal-state.safetensors"), StagedByAKilledRun, [OutA, State]);

        AssertBRefusedAndAsStateLanded(a, b, OutA, OutB, State);
        Assert.Contains($"copal: finished the state copy of an interrupted run in '{State}'", a.Stderr, StringComparison.Ordinal);
    }

    // What a run killed just after its model (outKilled) took its name leaves in `state`: both state files staged, and the record.
    private static void StageAKilledRunsStateCopy(string outKilled, string state)
    {
        Directory.CreateDirectory(state);
        string owner = $"{StateCommitTests.DeadPid().ToString(CultureInfo.InvariantCulture)}-12345-{Copal.Tensors.IO.TemporaryNames.Owner.Split('-')[2]}";
        var renames = new List<string[]>();
        for (int i = 0; i < s_stateFiles.Length; i++)
        {
            string staged = $".{s_stateFiles[i]}.tmp-{owner}-{(6 + i).ToString(CultureInfo.InvariantCulture)}";
            renames.Add([staged, s_stateFiles[i]]);
            File.Copy(Path.Combine(outKilled, s_stateFiles[i]), Path.Combine(state, staged));
        }
        var record = new Dictionary<string, object> { ["output"] = Path.Combine(outKilled, "copal-state.json"), ["renames"] = renames };
        File.WriteAllText(Path.Combine(state, $".copal-state.json.commit-{owner}-8"), System.Text.Json.JsonSerializer.Serialize(record));
    }

    /// <summary>
    /// Runs resuming from a folder share its lock, but what a killed run left there (its state copy, staged with its
    /// record) is settled by one alone: the lock is made exclusive for it. B, resuming while A is stopped just after the
    /// record's first rename, is refused with the lock's one line, and A finishes the copy and goes on from it.
    /// </summary>
    [StraceFact]
    public void A_killed_runs_state_copy_in_a_resume_folder_is_settled_by_one_run_and_a_second_reader_is_refused()
    {
        RunTheKilledRun();
        RunStepOne();
        string[] stateFiles = [.. s_stateFiles.Select(f => Path.Combine(State, f))];
        byte[][] stepOne = [.. stateFiles.Select(File.ReadAllBytes)];
        void Prepare()
        {
            for (int i = 0; i < stateFiles.Length; i++)
            {
                File.WriteAllBytes(stateFiles[i], stepOne[i]);
            }
            StageAKilledRunsStateCopy(OutKilled, State);
        }

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: State),
            StepArgs(OutB, state: null, seed: 4, resume: State), Path.Combine(State, "copal-state.safetensors"), Prepare, [OutA]);

        AssertBRefusedAndAsStateLanded(a, b, OutKilled, OutB, State, option: "--resume");
        Assert.Contains($"copal: finished the state copy of an interrupted run in '{State}'", a.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A run B that finds --state S made by run A, which is refused after locking it and removes the folder it made as it
    /// ends, just between B making sure S exists and opening its lock file there: B failed with "cannot write there:
    /// Could not find a part of the path". It makes S again and goes on. Each run is stopped by strace as its mkdir of S
    /// returns: A after making S, B after finding it there; A is let go and ends, then B.
    /// </summary>
    [StraceFact]
    public void A_run_whose_state_folder_vanishes_as_it_locks_it_makes_it_again_and_goes_on()
    {
        // A is refused once it holds the lock: its --out holds a person's file.
        Directory.CreateDirectory(OutA);
        File.WriteAllText(Path.Combine(OutA, "notes.txt"), "mine");
        string[] a = StepArgs(OutA, State, seed: 1);
        string[] b = StepArgs(OutB, State, seed: 2);
        bool MakesState(string arguments) => arguments.StartsWith($"\"{State}\"", StringComparison.Ordinal);
        (string callA, int countA) = CallCount(a, ["mkdir"], MakesState, mustSucceed: false);
        Directory.CreateDirectory(State);
        (string callB, int countB) = CallCount(b, ["mkdir"], MakesState);
        Directory.Delete(OutB, recursive: true);
        Directory.Delete(State, recursive: true);

        CopalProcess.Result? second = null;
        string traceA = _temp.File("a.trace");
        string traceB = _temp.File("b.trace");
        CopalProcess.Result first = CopalProcess.RunInShell(StopAfter(callA, countA, traceA), (pa, _) =>
        {
            Assert.True(SignalledRun.Until(pa, () => Stopped(traceA)), "run A never made the state folder");
            second = CopalProcess.RunInShell(StopAfter(callB, countB, traceB), (pb, _) =>
            {
                Assert.True(SignalledRun.Until(pb, () => Stopped(traceB)), "run B never reached the state folder");
                Continue(pa.Id);
                Assert.True(SignalledRun.Until(pa, () => pa.HasExited), "run A did not end");
                Assert.False(Path.Exists(State), "run A left the folder it made");
                Continue(pb.Id);
            }, b);
        }, a);

        Assert.True(first.ExitCode == 1, $"exit code {first.ExitCode}; stderr: {first.Stderr}");
        Assert.Contains("exists and is not empty", first.Stderr, StringComparison.Ordinal);
        Assert.True(second!.ExitCode == 0, second.Stderr);
        AssertStateOf(OutB, State);
    }

    /// <summary>
    /// A --resume folder this user may not write (another user's, a read-only medium) could hold no lock file, so it was
    /// read unlocked: a writer of that folder (its owner's run) could replace the state under the run reading it. The
    /// lock is now on the folder itself, taken shared to read: another reader may take it too, a writer may not, while
    /// the run reads. It is left as it was.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_resume_folder_this_user_may_not_write_is_still_locked_shared_and_read()
    {
        RunStepOne();
        UnixFileMode mode = File.GetUnixFileMode(State);
        File.SetUnixFileMode(State, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        FolderSnapshot before = FolderSnapshot.Of(State);
        int exclusive = -1, shared = -1;
        CopalProcess.Result a;
        try
        {
            string dropRoot = Environment.IsPrivilegedProcess ? "setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search " : "";
            a = WhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: State), OutA, () => { }, [OutA], p =>
            {
                exclusive = TryFlock("-x", State);
                shared = TryFlock("-s", State);
                Continue(p.Id);
            }, dropRoot);
        }
        finally
        {
            File.SetUnixFileMode(State, mode);
        }

        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.True(exclusive == 1, $"an exclusive flock of the folder A reads gave exit code {exclusive}, expected 1 (held by A)");
        Assert.True(shared == 0, $"a shared flock of the folder A reads gave exit code {shared}, expected 0 (shared with A)");
        Assert.Equal(before, FolderSnapshot.Of(State));
    }

    // flock(1) without waiting on `folder` (-x exclusive, -s shared): 0 when taken, 1 when another holds it.
    private static int TryFlock(string kind, string folder)
    {
        using Process flock = Process.Start("flock", ["-n", kind, folder, "true"]);
        flock.WaitForExit();
        return flock.ExitCode;
    }

    /// <summary>
    /// A run resuming from a folder wrote its lock file there (the folder's entries and time changed, though the file was
    /// deleted again), and a run killed while it read left the file behind: an input was modified. The folder is now
    /// left as it was, entry for entry, byte for byte, and its time, whether the run ends or is killed (SIGKILL, while it
    /// is stopped just as its model takes its name).
    /// </summary>
    [StraceFact]
    public void A_run_resuming_from_a_folder_leaves_it_as_it_was_even_when_killed()
    {
        RunStepOne();
        FolderSnapshot before = FolderSnapshot.Of(State);

        Succeeds(StepArgs(OutB, state: null, seed: 3, resume: State));
        Assert.Equal(before, FolderSnapshot.Of(State));

        CopalProcess.Result a = WhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: State), OutA, () => { }, [OutA], p =>
        {
            foreach (int copal in Descendants(p.Id))
            {
                SignalledRun.Kill("KILL", copal);
            }
        });
        Assert.NotEqual(0, a.ExitCode);
        Assert.Equal(before, FolderSnapshot.Of(State));
    }

    /// <summary>
    /// The lock file a killed run of an earlier version left in a --resume folder (or one copied along with it) was taken
    /// over and deleted by the next run resuming from there: it is an input, and stays as it is.
    /// </summary>
    [Fact]
    public void A_lock_file_left_in_a_resume_folder_stays()
    {
        RunStepOne();
        File.WriteAllBytes(Path.Combine(State, ".copal-state.lock"), []);
        FolderSnapshot before = FolderSnapshot.Of(State);

        Succeeds(StepArgs(OutB, state: null, seed: 2, resume: State));

        Assert.Equal(before, FolderSnapshot.Of(State));
    }

    /// <summary>
    /// Two runs resuming from one folder at once: reading together is harmless, but the lock was exclusive and the second
    /// was refused. Both go on now (the second while the first is stopped just as its model takes its name).
    /// </summary>
    [StraceFact]
    public void Two_runs_resuming_from_one_folder_at_once_both_succeed()
    {
        RunStepOne();
        FolderSnapshot before = FolderSnapshot.Of(State);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: State),
            StepArgs(OutB, state: null, seed: 3, resume: State), OutA, OutA);

        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.True(b.ExitCode == 0, b.Stderr);
        Assert.True(File.Exists(Path.Combine(OutA, "copal-state.json")) && File.Exists(Path.Combine(OutB, "copal-state.json")));
        Assert.Equal(before, FolderSnapshot.Of(State));
    }

    /// <summary>What a folder holds, as compared before and after a run reads it: its own time, and each entry's name, time and bytes.</summary>
    private sealed record FolderSnapshot(DateTime Modified, string Entries)
    {
        public static FolderSnapshot Of(string folder) => new(Directory.GetLastWriteTimeUtc(folder), string.Join('\n',
            Directory.GetFileSystemEntries(folder).Order(StringComparer.Ordinal).Select(e =>
                $"{Path.GetFileName(e)} {File.GetLastWriteTimeUtc(e).Ticks.ToString(CultureInfo.InvariantCulture)} "
                + (File.Exists(e) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(e))) : "folder"))));
    }

    public void Dispose() => _temp.Dispose();
}
