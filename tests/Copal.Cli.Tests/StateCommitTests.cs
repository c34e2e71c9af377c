using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>prune --method copal --state S</c> renames its copy of the COPAL state into S after the pruned model, whose folder
/// holds the same state, is in place. A run killed between those renames (or between the state's two renames) left the
/// model with its new state and S with the previous step's, or with a new tensor file beside the previous manifest; the
/// next run swept the staged copy away as a stale temporary. A later <c>--resume S</c> then went on silently from the step
/// before (or was refused, the pair mixed). Before the model's rename the run writes a record beside the staged copy
/// naming the model's copy of the manifest; the next run that looks in S finishes the renames where the model holds that
/// manifest, and drops the copy where it does not. What such a run leaves is made here by hand, as a kill leaves it, with
/// the names of a process that is gone.
/// </summary>
public sealed class StateCommitTests : IDisposable
{
    private readonly TempDir _temp = new("copal-state-commit-");
    private readonly string _calib = TestData.Path("text", "tinystories", "calib.txt");

    private static readonly string[] s_stateFiles = ["copal-state.safetensors", "copal-state.json"];

    /// <summary>Prunes stories260K with COPAL, one step per seed (a step's windows), resuming <paramref name="resume"/>.</summary>
    private CopalProcess.Result Step(string outDir, int seed, string? resume = null, string? state = null)
    {
        var args = new List<string> { "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5",
            "--calib", _calib, "--nsamples", "2", "--seqlen", "32", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--device", "cpu" };
        if (resume is not null)
        {
            args.AddRange(["--resume", resume]);
        }
        if (state is not null)
        {
            args.AddRange(["--state", state]);
        }
        return CopalProcess.Run([.. args]);
    }

    /// <summary>
    /// Step 1 with --state S; step 2 resuming it, its model at out2; and in S what a step 2 run with --state S leaves
    /// when killed after its model was renamed into place, with <paramref name="renamed"/> of the state's two renames done.
    /// </summary>
    private (string State, string Out2, string StepOne) KilledAfterTheModelWasInPlace(int renamed, bool modelInPlace = true)
    {
        string state = _temp.File("state");
        string out1 = _temp.File("out1");
        CopalProcess.Result one = Step(out1, seed: 1, state: state);
        Assert.True(one.ExitCode == 0, one.Stderr);
        string out2 = _temp.File("out2");
        CopalProcess.Result two = Step(out2, seed: 2, resume: out1);
        Assert.True(two.ExitCode == 0, two.Stderr);
        string stepOne = _temp.File("step1-state");
        Directory.CreateDirectory(stepOne);
        foreach (string f in s_stateFiles)
        {
            File.Copy(Path.Combine(state, f), Path.Combine(stepOne, f));
        }

        string owner = $"{DeadPid().ToString(CultureInfo.InvariantCulture)}-12345-{TemporaryNames.Owner.Split('-')[2]}";
        var renames = new List<string[]>();
        for (int i = 0; i < s_stateFiles.Length; i++)
        {
            string staged = $".{s_stateFiles[i]}.tmp-{owner}-{(6 + i).ToString(CultureInfo.InvariantCulture)}";
            renames.Add([staged, s_stateFiles[i]]);
            File.Copy(Path.Combine(out2, s_stateFiles[i]), Path.Combine(state, i < renamed ? s_stateFiles[i] : staged), overwrite: true);
        }
        var record = new Dictionary<string, object> { ["output"] = Path.Combine(out2, "copal-state.json"), ["renames"] = renames };
        File.WriteAllText(Path.Combine(state, $".copal-state.json.commit-{owner}-8"), JsonSerializer.Serialize(record));
        if (!modelInPlace)
        {
            // Killed before the model's rename: out2 is the previous output (here: none).
            Directory.Delete(out2, recursive: true);
        }
        return (state, out2, stepOne);
    }

    internal static int DeadPid()
    {
        using Process done = Process.Start("true");
        done.WaitForExit();
        return done.Id;
    }

    private static void AssertSameStateFiles(string expected, string actual)
    {
        foreach (string f in s_stateFiles)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(expected, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, f))),
                $"{f} in '{actual}' differs from the one in '{expected}'");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void A_resume_from_a_state_whose_copy_a_killed_run_left_staged_goes_on_from_that_runs_output(int renamed)
    {
        (string state, string out2, _) = KilledAfterTheModelWasInPlace(renamed);

        CopalProcess.Result three = Step(_temp.File("out3"), seed: 3, resume: state);

        Assert.True(three.ExitCode == 0, three.Stderr);
        AssertSameStateFiles(out2, state);
        Assert.Equal(s_stateFiles.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(state).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains($"copal: finished the state copy of an interrupted run in '{state}': {string.Join(", ", s_stateFiles)} now hold the state of the model it put in '{out2}'",
            three.Stderr, StringComparison.Ordinal);
        Assert.Contains("COPAL state: 3 datasets seen", three.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// A kill between the state's two renames, then a run that writes over the model (here: its manifest) before any
    /// run looks in --state: the copy is still finished, since its first rename proves the model was put in place, and
    /// the line says whose state it is, not that it matches what the output holds now. Dropping it left the new tensor
    /// file beside the previous manifest, a pair --resume refuses.
    /// </summary>
    [Fact]
    public void A_state_copy_half_renamed_is_finished_even_once_its_model_was_written_over()
    {
        (string state, string out2, _) = KilledAfterTheModelWasInPlace(renamed: 1);
        string killedRuns = _temp.File("killed-runs-state");
        Directory.CreateDirectory(killedRuns);
        foreach (string f in s_stateFiles)
        {
            File.Copy(Path.Combine(out2, f), Path.Combine(killedRuns, f));
        }
        File.Copy(Path.Combine(_temp.Path, "out1", "copal-state.json"), Path.Combine(out2, "copal-state.json"), overwrite: true);

        CopalProcess.Result three = Step(_temp.File("out3"), seed: 3, resume: state);

        Assert.True(three.ExitCode == 0, three.Stderr);
        AssertSameStateFiles(killedRuns, state);
        Assert.Contains($"copal: finished the state copy of an interrupted run in '{state}': {string.Join(", ", s_stateFiles)} now hold the state of the model it put in '{out2}'",
            three.Stderr, StringComparison.Ordinal);
        Assert.Contains("COPAL state: 3 datasets seen", three.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_rerun_of_a_step_killed_after_its_model_was_in_place_finishes_the_state_and_keeps_the_output()
    {
        (string state, string out2, _) = KilledAfterTheModelWasInPlace(renamed: 0);
        string model = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(out2, "model.safetensors"))));

        CopalProcess.Result again = Step(out2, seed: 2, resume: _temp.File("out1"), state: state);

        // The step's output is complete, so the run that would replace it asks for --force, as after any finished run.
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("--force", again.Stderr, StringComparison.Ordinal);
        AssertSameStateFiles(out2, state);
        Assert.Equal(model, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(out2, "model.safetensors")))));
    }

    [Fact]
    public void A_state_copy_staged_by_a_run_killed_before_its_model_was_in_place_is_dropped()
    {
        (string state, string out2, string stepOne) = KilledAfterTheModelWasInPlace(renamed: 0, modelInPlace: false);

        CopalProcess.Result three = Step(_temp.File("out3"), seed: 3, resume: state);

        Assert.True(three.ExitCode == 0, three.Stderr);
        AssertSameStateFiles(stepOne, state);
        Assert.False(Directory.Exists(out2));
        Assert.Equal(s_stateFiles.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(state).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("COPAL state: 2 datasets seen", three.Stdout, StringComparison.Ordinal);
        // Said, as a finished copy is: dropping it was silent, so a person whose copy vanished had no word of why.
        Assert.Contains($"copal: dropped the state copy of an interrupted run in '{state}': its model's '{Path.Combine(out2, "copal-state.json")}' is missing (that run stopped before its model took its place); the state there is unchanged",
            three.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A record cut short as it was written (a kill or a full disk before the model's rename) is dropped with its copy, and said so.</summary>
    [Fact]
    public void A_state_copy_whose_record_was_cut_short_is_dropped_and_said_so()
    {
        (string state, string out2, string stepOne) = KilledAfterTheModelWasInPlace(renamed: 0, modelInPlace: false);
        string record = Assert.Single(Directory.GetFiles(state, ".copal-state.json.commit-*"));
        File.WriteAllBytes(record, File.ReadAllBytes(record)[..10]);

        CopalProcess.Result three = Step(_temp.File("out3"), seed: 3, resume: state);

        Assert.True(three.ExitCode == 0, three.Stderr);
        AssertSameStateFiles(stepOne, state);
        Assert.Equal(s_stateFiles.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(state).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains($"copal: dropped the state copy of an interrupted run in '{state}': its record {Path.GetFileName(record)} was cut short as it was written, before its model's rename; the state there is unchanged",
            three.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A copy whose renames the next run cannot make (here a folder where a state file goes) stays with its record for a
    /// later run; that was silent, every run, while --resume read the step before or failed on the folder unexplained.
    /// </summary>
    [Fact]
    public void A_state_copy_that_cannot_be_settled_now_stays_and_each_run_says_why()
    {
        (string state, _, _) = KilledAfterTheModelWasInPlace(renamed: 0);
        File.Delete(Path.Combine(state, "copal-state.safetensors"));
        Directory.CreateDirectory(Path.Combine(state, "copal-state.safetensors", "notes"));
        string[] left = [.. Directory.GetFileSystemEntries(state).Order(StringComparer.Ordinal)];
        string record = Path.GetFileName(Assert.Single(Directory.GetFiles(state, ".copal-state.json.commit-*")));

        CopalProcess.Result three = Step(_temp.File("out3"), seed: 3, resume: state);

        Assert.Equal(left, Directory.GetFileSystemEntries(state).Order(StringComparer.Ordinal));
        string notice = Assert.Single(three.Stderr.Split('\n'), l => l.Contains("cannot settle", StringComparison.Ordinal));
        Assert.StartsWith($"copal: cannot settle the state copy of an interrupted run in '{state}' now: ", notice, StringComparison.Ordinal);
        Assert.EndsWith($"; its record {record} and staged files stay for a later run", notice, StringComparison.Ordinal);
    }

    /// <summary>
    /// A full disk in --state just as the record is written (a tmpfs that holds the two staged files, 318 pages, and not
    /// one page more): the run failed with .NET's bare "No space left on device : 'PATH'", naming the hidden record, and
    /// left that record, empty, in --state after it ended by itself. It fails naming --state as a copy that does not fit
    /// does, and leaves --state empty. copal runs in a mount namespace of its own whose tmpfs is mounted on --state.
    /// </summary>
    [TmpfsFact]
    public void A_full_disk_as_the_commit_record_is_written_names_the_state_and_leaves_nothing()
    {
        string state = Directory.CreateDirectory(_temp.File("state")).FullName;
        string outDir = _temp.File("out");
        var args = new List<string> { "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5",
            "--calib", _calib, "--nsamples", "2", "--seqlen", "32", "--seed", "1", "--device", "cpu", "--state", state };

        CopalProcess.Result r = CopalProcess.RunInShell(
            $"exec unshare -rm bash -c 'd=\"$1\"; mount -t tmpfs -o size=1272k tmpfs \"$d\" && shift && {{ dotnet \"$@\"; rc=$?; "
            + $"printf \"left in state: [%s]\\n\" \"$(ls -A \"$d\")\"; exit $rc; }}' bash \"{state}\" \"$@\"", [.. args]);

        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.EndsWith($"copal: error: cannot write the COPAL state (copal-state.safetensors, copal-state.json) into '{state}': No space left on device\n",
            r.Stderr, StringComparison.Ordinal);
        Assert.Contains("left in state: []\n", r.Stdout, StringComparison.Ordinal); // listed in copal's namespace, which the tmpfs ends with
        Assert.False(Path.Exists(outDir));
    }

    /// <summary>
    /// A folder in --state where one of the state's files goes made the rename of that file fail after the model was in
    /// place: the run failed (exit 1, with .NET's "Is a directory : 'PATH'") and left the output, and --state with the
    /// new tensor file beside the folder. It is refused before any work, as a file where the folder goes is.
    /// </summary>
    [Theory]
    [InlineData("copal-state.json")]
    [InlineData("copal-state.safetensors")]
    public void A_folder_where_a_state_file_goes_is_refused_before_any_work(string name)
    {
        string state = _temp.File("state");
        Directory.CreateDirectory(Path.Combine(state, name));
        string outDir = _temp.File("out");

        CopalProcess.Result r = Step(outDir, seed: 1, state: state);

        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Equal($"copal: error: --state '{state}': {name} there is a folder; expected a file (the state's {string.Join(" and ", s_stateFiles)} are renamed into it)\n", r.Stderr);
        Assert.False(Path.Exists(outDir));
        Assert.Equal([name], Directory.GetFileSystemEntries(state).Select(Path.GetFileName));
    }

    public void Dispose() => _temp.Dispose();
}
