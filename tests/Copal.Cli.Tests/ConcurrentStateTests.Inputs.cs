using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A run that reads an input folder locks it (shared) before it opens anything in it, not after: compact and densify
/// read the input's config and mapped its weights, then took the lock, so a `--force` over the input in between went
/// through and the run locked, and copied its other files from, the folder that replaced the one it had mapped (two
/// models mixed in its output, both runs exiting 0). A, stopped just after it opens the input's weights, now holds the
/// lock, and B is refused at once in one line.
/// </summary>
public sealed partial class ConcurrentStateTests
{
    private string OutC => _temp.File("outC");

    /// <summary>B replaces (--force) the pruned model A compacts, as A's weights are opened.</summary>
    [StraceFact]
    public void Force_over_the_model_folder_another_run_compacts_is_refused_once_its_weights_are_open()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(Out1);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStoppedAfterOpening(["compact", "-m", Out1, "-o", OutA],
            StepArgs(Out1, state: null, seed: 3, force: true), Path.Combine(Out1, "model.safetensors"), OutA);

        AssertOutputRefused(a, b, OutputRefusal(Out1));
        Assert.Equal(before, FolderSnapshot.Of(Out1));
    }

    /// <summary>B replaces (--force, a compact of another model) the compact model A densifies, as A's weights are opened.</summary>
    [StraceFact]
    public void Force_over_the_model_folder_another_run_densifies_is_refused_once_its_weights_are_open()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        Succeeds(["compact", "-m", Out1, "-o", OutC]);
        Succeeds(StepArgs(OutB, state: null, seed: 3));
        FolderSnapshot before = FolderSnapshot.Of(OutC);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStoppedAfterOpening(["densify", "-m", OutC, "-o", OutA],
            ["compact", "-m", OutB, "-o", OutC, "--force"], Path.Combine(OutC, "model.safetensors"), OutA);

        AssertOutputRefused(a, b, OutputRefusal(OutC));
        Assert.Equal(before, FolderSnapshot.Of(OutC));
    }

    /// <summary>
    /// B replaces (--force) the model folder A takes its tokenizer from (synth --tokenizer), as A reads the tokenizer to
    /// check its vocabulary: the files then copied in would have been the next folder's, never checked.
    /// </summary>
    [StraceFact]
    public void Force_over_the_tokenizer_folder_another_run_synthesizes_with_is_refused_once_it_is_read()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(Out1);

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStoppedAfterOpening(
            ["synth", "--config", Path.Combine(TestData.Stories260K, "config.json"), "--tokenizer", Out1, "-o", OutA],
            StepArgs(Out1, state: null, seed: 3, force: true), Path.Combine(Out1, "tokenizer.json"), OutA);

        AssertOutputRefused(a, b, OutputRefusal(Out1));
        Assert.Equal(before, FolderSnapshot.Of(Out1));
    }

    /// <summary>
    /// B replaces (--force) the model folder A runs continual on, as A reads its config (which sizes the windows and the
    /// memory estimate of a run that then prunes the model in the folder).
    /// </summary>
    [StraceFact]
    public void Force_over_the_model_folder_another_continual_run_reads_is_refused_once_its_config_is_read()
    {
        Succeeds(StepArgs(Out1, state: null, seed: 1));
        FolderSnapshot before = FolderSnapshot.Of(Out1);
        string eval = TestData.Path("text", "tinystories", "eval.txt");

        (CopalProcess.Result a, CopalProcess.Result b) = BWhileAIsStoppedAfterOpening(
            ["continual", "-m", Out1, "--datasets", $"a={_calib}:{eval}", "--methods", "magnitude", "--no-joint", "--sparsity", "0.5",
                "--nsamples", "1", "--seqlen", "32", "--eval-limit-chunks", "1", "-o", OutA, "--device", "cpu"],
            StepArgs(Out1, state: null, seed: 3, force: true), Path.Combine(Out1, "config.json"), OutA);

        AssertOutputRefused(a, b, OutputRefusal(Out1));
        Assert.Equal(before, FolderSnapshot.Of(Out1));
    }

    /// <summary>
    /// Runs A, stopped by SIGSTOP just after it first opens <paramref name="file"/>; runs B meanwhile; then lets A go on.
    /// Which open that is, strace's count of that call in A's thread, is read from a traced run of A first.
    /// </summary>
    private (CopalProcess.Result A, CopalProcess.Result B) BWhileAIsStoppedAfterOpening(string[] a, string[] b, string file, params string[] outputsOfA)
    {
        (string call, int count) = CallCount(a, ["open", "openat"], arguments => arguments.Contains($"\"{file}\"", StringComparison.Ordinal));
        foreach (string output in outputsOfA)
        {
            Directory.Delete(output, recursive: true);
        }
        string traceA = _temp.File("a.trace");
        CopalProcess.Result? second = null;
        CopalProcess.Result first = CopalProcess.RunInShell(StopAfter(call, count, traceA), (p, _) =>
        {
            Assert.True(SignalledRun.Until(p, () => Stopped(traceA)), $"run A never opened '{file}'");
            second = CopalProcess.Run(b);
            Continue(p.Id);
        }, a);
        return (first, second!);
    }
}
