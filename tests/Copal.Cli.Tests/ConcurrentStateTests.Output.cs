using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// `--force` over an output folder that another run reads a COPAL state from, or writes one into. Neither run locked
/// the output: B's replacement swapped the folder (the state files, and a state copy staged there, went with the old
/// one, deleted), while A resumed from it (its Hessians read layer by layer from the file now gone or replaced) or was
/// about to rename its state in; both exited 0. B now locks the output folder and each folder in it, exclusively, as a
/// --state writer does, and is refused at once in one line; A goes on and the folder stays as it was.
/// </summary>
public sealed partial class ConcurrentStateTests
{
    private static string OutputRefusal(string outDir, string? inner = null) =>
        $"copal: error: -o '{outDir}'{(inner is null ? "" : $": its folder '{inner}'")} is in use by another copal run, which reads a model or a state there, or writes a state there "
        + "(its lock on the folder ends with it); run again once that run has ended, or choose another folder\n";

    private static void AssertOutputRefused(CopalProcess.Result a, CopalProcess.Result b, string expected)
    {
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.True(b.ExitCode == 1, $"exit code {b.ExitCode}, expected 1; stderr: {b.Stderr}");
        Assert.Equal(expected, b.Stderr);
    }

    /// <summary>B replaces (--force) the model folder whose state A resumes from.</summary>
    [StraceFact]
    public void Force_over_a_model_folder_another_run_resumes_from_is_refused_at_once()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(Out1);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: Out1),
            StepArgs(Out1, state: null, seed: 3, force: true), OutA, OutA);

        AssertOutputRefused(a, b, OutputRefusal(Out1));
        Assert.Equal(before, FolderSnapshot.Of(Out1));
    }

    /// <summary>B replaces (--force) an output whose state folder (written there by `--state out1/st`) A resumes from.</summary>
    [StraceFact]
    public void Force_over_an_output_holding_a_state_folder_another_run_resumes_from_is_refused_at_once()
    {
        string state = Path.Combine(Out1, "st");
        Succeeds(StepArgs(Out1, state, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(state);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state: null, seed: 2, resume: state),
            StepArgs(Out1, state: null, seed: 3, force: true), OutA, OutA);

        AssertOutputRefused(a, b, OutputRefusal(Out1, "st"));
        Assert.Equal(before, FolderSnapshot.Of(state));
    }

    /// <summary>
    /// B replaces (--force) an output holding the state folder A writes (`--state out1/st`, apart from A's --out): A,
    /// stopped as its model takes its name, had its state copy staged in out1/st, which B's swap took away with the old
    /// folder. B is refused, and A's state lands whole.
    /// </summary>
    [StraceFact]
    public void Force_over_an_output_holding_a_state_folder_another_run_writes_is_refused_at_once()
    {
        string state = Path.Combine(Out1, "st");
        Succeeds(StepArgs(Out1, state, seed: 1));

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStopped(StepArgs(OutA, state, seed: 2, force: true),
            StepArgs(Out1, state: null, seed: 3, force: true), OutA, () => { }, [OutA]);

        AssertOutputRefused(a, b, OutputRefusal(Out1, "st"));
        AssertStateOf(OutA, state);
    }

    /// <summary>
    /// B replaces (--force) the model folder A prunes: A read its tokenizer and config before its weights (after the
    /// calibration's minutes on a large model), and a compact copies its input's files after a pass over the weights,
    /// so a replacement between mixed two models in A's output. A holds a shared lock on its input; B is refused.
    /// </summary>
    [StraceFact]
    public void Force_over_the_model_folder_another_run_prunes_is_refused_at_once()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(Out1);
        string[] a = [.. StepArgs(OutA, state: null, seed: 2)];
        a[Array.IndexOf(a, "-m") + 1] = Out1;

        (CopalProcess.Result ra, CopalProcess.Result rb) = BWhileAIsStopped(a, StepArgs(Out1, state: null, seed: 3, force: true), OutA, OutA);

        AssertOutputRefused(ra, rb, OutputRefusal(Out1));
        Assert.Equal(before, FolderSnapshot.Of(Out1));
    }
}
