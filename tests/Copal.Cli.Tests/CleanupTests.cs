using System.Diagnostics;
using System.Globalization;
using Copal.Tensors.IO;
using Copal.Testing;
using static Copal.Cli.Tests.SignalledRun;

namespace Copal.Cli.Tests;

/// <summary>
/// A failed or stopped run leaves no temporary folder: on an error (a full disk included), on SIGTERM and SIGHUP as
/// on Ctrl-C; and what a killed run left is removed by the next run that writes beside it.
/// </summary>
public sealed class CleanupTests : IDisposable
{
    private readonly TempDir _temp = new("copal-clean-");
    private readonly TempDir _inputs = new("copal-clean-inputs-"); // beside, not in, _temp.Path

    [LinuxFact]
    public void A_full_disk_during_prune_leaves_no_temporary_folder()
    {
        // A file-size limit makes writes past 600 KiB fail as a full disk does (SIGXFSZ ignored, so write() returns
        // an error); the pruned model is about 1 MiB. W^X off: the runtime's double mapping also creates a file.
        string outDir = _temp.File("out");
        CopalProcess.Result r = CopalProcess.RunInShell("export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 600",
            "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
        Assert.Contains("model.safetensors: cannot write", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// The COPAL state is written into the output after the pruned model; at stories260K with the default --mask obs
    /// it is larger than the model (its Hessians), so a 1,100 KiB file-size limit fails it alone. The message named the
    /// hidden temporary file the writer was given, not the output it was for.
    /// </summary>
    [LinuxFact]
    public void A_full_disk_while_the_COPAL_state_is_written_names_the_output_and_leaves_nothing()
    {
        string outDir = _temp.File("out");
        CopalProcess.Result r = CopalProcess.RunInShell("export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 1100",
            "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5", "--device", "cpu",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.EndsWith($"copal: error: -o '{outDir}': cannot write copal-state.safetensors: {AtomicDirectory.FileTooLarge}\n", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// COPAL's folded matrices wait in a spill inside the output's temporary folder while the next layers are pruned.
    /// At stories260K down_proj's cross term (172² floats, 116 KiB) is the only one past a 100 KiB file-size limit,
    /// and it is spilled when layer 1 starts, before any other file gets that large. The failure said
    /// "Specified file length was too large for the file system." (on a full disk: .NET's "No space left on device :
    /// 'the hidden spill file'"), naming neither the output nor the matrix.
    /// </summary>
    [LinuxFact]
    public void A_full_disk_while_COPAL_spills_a_matrix_names_the_output_and_the_matrix_and_leaves_nothing()
    {
        string outDir = _temp.File("out");
        CopalProcess.Result r = CopalProcess.RunInShell("export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 100",
            "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5", "--device", "cpu",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.EndsWith($"copal: error: -o '{outDir}': cannot write the dense-target cross term of 'model.layers.0.mlp.down_proj.weight' "
            + $"that the COPAL state keeps until it is saved: {AtomicDirectory.FileTooLarge}\n", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// A file past the size limit (ulimit -f, or a file system's own: 4 GiB on FAT32) is EFBIG, which .NET throws as
    /// an argument error, not an IOException: the small files (a logits JSON, a copied tokenizer) are named and leave
    /// nothing, the folders made above them included, as a full disk does.
    /// </summary>
    [LinuxFact]
    public void A_file_size_limit_while_writing_a_small_file_names_it_and_leaves_nothing()
    {
        const string Limit = "export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 8"; // 8 KiB
        string json = Path.Combine(_temp.Path, "a", "b", "logits.json");
        CopalProcess.Result r = CopalProcess.RunInShell(Limit,
            "logits", "-m", TestData.Stories260K, "-t", "Once upon a time", "-o", json, "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{json}': cannot write it: {AtomicDirectory.FileTooLarge}", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));

        // synth copies tokenizer.json (15 KB) into its output before the weights.
        string model = Path.Combine(_temp.Path, "c", "model");
        r = CopalProcess.RunInShell(Limit, "synth", "--config", TestData.Stories260K, "--tokenizer", TestData.Stories260K, "-o", model);
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{model}': cannot copy '{Path.Combine(TestData.Stories260K, "tokenizer.json")}' into it: {AtomicDirectory.FileTooLarge}", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// Under a real file-size limit, with SIGXFSZ not ignored by the shell (the other tests here ignore it), a write
    /// past the limit raised the signal, which ended the run at once ("File size limit exceeded", exit 153) and left
    /// the output's temporary folder behind. copal handles the signal, so the write fails as on a full disk: named,
    /// exit 1, nothing left.
    /// </summary>
    [LinuxFact]
    public void A_file_size_limit_without_the_signal_ignored_is_reported_as_a_full_disk_and_leaves_nothing()
    {
        string json = Path.Combine(_temp.Path, "a", "logits.json");
        CopalProcess.Result r = CopalProcess.RunInShell("export DOTNET_EnableWriteXorExecute=0; ulimit -f 8",
            "logits", "-m", TestData.Stories260K, "-t", "Once upon a time", "-o", json, "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{json}': cannot write it: {AtomicDirectory.FileTooLarge}", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public void SIGTERM_during_prune_cancels_and_leaves_no_output() => SignalDuringPrune("TERM", 143);

    [HangupFact]
    public void SIGHUP_during_prune_cancels_and_leaves_no_output() => SignalDuringPrune("HUP", 129);

    [InterruptFact]
    public void Ctrl_c_during_prune_cancels_and_leaves_no_output() => SignalDuringPrune("INT", 130);

    /// <summary>
    /// A second signal stops the run at once, without waiting for the cancellation to unwind, and still leaves no
    /// temporary folder, nor the folders it made above its output: the run deletes its own before it ends. To see
    /// "at once" without a race, the run is held where no cancellation can reach it: copying the model's side files
    /// into its output, it opens a tokenizer.model that is a pipe nobody writes, which blocks until the process
    /// ends. Without the second signal's exit the run would wait there for good (the test fails by timeout).
    /// </summary>
    [HangupFact]
    public void A_second_signal_stops_at_once_and_leaves_no_temporary_folder()
    {
        string model = ModelThatHoldsItsWriters();
        string outDir = Path.Combine(_temp.Path, "made", "below", "stopped"); // "made" and "below" are the run's to remove
        bool sent = false;
        CopalProcess.Result r = CopalProcess.Run(p =>
        {
            sent = WhenTemporaryFolderExists(p, outDir, () =>
            {
                // Both are caught by then: the run is past loading the model. Whichever is handled first cancels.
                Kill("TERM", p.Id);
                Kill("HUP", p.Id);
            });
        }, "prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
        Assert.True(sent, $"the run ended before its temporary folder appeared; stderr: {r.Stderr}");
        Assert.True(r.ExitCode is 143 or 129, $"exit code {r.ExitCode}, expected 143 or 129; stderr: {r.Stderr}");
        Assert.Contains("cancelling", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("cancelled", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// One signal cancels: the run ends with the signal's exit code, says "cancelled", and leaves neither its output
    /// nor its temporary folder nor the folders it made above them. The signal comes while the run is held copying its
    /// side files (<see cref="ModelThatHoldsItsWriters"/>), and the run is let go once its handler has said
    /// "cancelling", so the cancellation is seen in the pruning that follows however fast the machine is.
    /// </summary>
    private void SignalDuringPrune(string signal, int exitCode)
    {
        string model = ModelThatHoldsItsWriters();
        string outDir = Path.Combine(_temp.Path, "made", "below", "stopped"); // "made" and "below" are the run's to remove
        bool sent = false, heard = false;
        CopalProcess.Result r = CopalProcess.Run((p, stderr) =>
        {
            sent = WhenTemporaryFolderExists(p, outDir, () => Kill(signal, p.Id));
            heard = sent && WhenWritten(p, stderr, "cancelling");
            Release(model, p);
        }, "prune", "-m", model, "-o", outDir, "--method", "sparsegpt", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "8", "--seqlen", "128", "--device", "cpu");
        Assert.True(sent, $"the run ended before its temporary folder appeared; stderr: {r.Stderr}");
        Assert.True(heard, $"the run did not say it was cancelling; stderr: {r.Stderr}");
        Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, expected {exitCode}; stderr: {r.Stderr}");
        Assert.Contains("cancelled", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>Waits until the run has written <paramref name="text"/> to stderr; false if it ended first.</summary>
    private static bool WhenWritten(Process p, Func<string> stderr, string text)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (stderr().Contains(text, StringComparison.Ordinal))
            {
                return true;
            }
            if (p.HasExited)
            {
                return false;
            }
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>
    /// Lets a run held by <see cref="ModelThatHoldsItsWriters"/> go on: writes its pipe (the write waits for the run
    /// to open it), then waits for the run to end. A run that ended without opening the pipe leaves the write
    /// waiting; the pipe is then opened here to free it.
    /// </summary>
    private static void Release(string model, Process p)
    {
        string pipe = Path.Combine(model, "tokenizer.model");
        Task write = Task.Run(() => File.WriteAllBytes(pipe, [0x0a]));
        p.WaitForExit(TimeSpan.FromMinutes(2));
        if (!write.IsCompleted)
        {
            using var reader = new FileStream(pipe, FileMode.Open, FileAccess.Read);
            reader.CopyTo(Stream.Null);
        }
        write.Wait();
    }

    /// <summary>Runs <paramref name="send"/> once the temporary folder of <paramref name="outDir"/> exists; false if the run ended first.</summary>
    private static bool WhenTemporaryFolderExists(Process p, string outDir, Action send)
    {
        var clock = Stopwatch.StartNew();
        string parent = Path.GetDirectoryName(outDir)!, pattern = $".{Path.GetFileName(outDir)}.tmp-*";
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (HoldsEntries(parent, pattern, empty: true))
            {
                send();
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>
    /// The same for continual, whose intermediate models live in a working folder of its own (here under --temp, which
    /// the run made): a second signal removes it too. It stayed once, named as no other temporary was. The run is
    /// held, as above, while it writes its first intermediate model into that folder.
    /// </summary>
    [HangupFact]
    public void A_second_signal_during_continual_leaves_no_working_folder()
    {
        string model = ModelThatHoldsItsWriters();
        string work = Path.Combine(_temp.Path, "work", "below"); // both made by the run
        string calib = TestData.Path("text", "tinystories", "calib.txt"), eval = TestData.Path("text", "tinystories", "eval.txt");
        string ptb = TestData.Path("text", "ptb", "ptb.valid.txt"); // a text of its own: a second dataset on the same one is refused
        bool sent = false;
        CopalProcess.Result r = CopalProcess.Run(p =>
        {
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
            {
                // Once an intermediate model is being written in the working folder (made empty at the start).
                if (HoldsEntries(work, ".copal-continual.tmp-*"))
                {
                    Kill("TERM", p.Id);
                    Kill("HUP", p.Id);
                    sent = true;
                    return;
                }
                Thread.Sleep(20);
            }
        }, "continual", "-m", model, "--datasets", $"a={calib}:{eval},b={ptb}:{eval}", "--methods", "copal,wanda",
            "--sparsity", "0.5", "--nsamples", "32", "--seqlen", "128", "--eval-limit-chunks", "2", "--temp", work,
            "-o", _temp.File("report"), "--device", "cpu");
        Assert.True(sent, $"the run ended before its working folder held a model; stderr: {r.Stderr}");
        Assert.True(r.ExitCode is 143 or 129, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        Assert.DoesNotContain("cancelled", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// A copy of stories260K whose tokenizer.model is a pipe: a run that copies the model's side files into an output
    /// blocks there, with its temporary folder made, until the process ends or the test writes the pipe
    /// (<see cref="Release"/>). Nothing else reads it.
    /// </summary>
    private string ModelThatHoldsItsWriters()
    {
        string model = _inputs.File("model");
        Directory.CreateDirectory(model);
        foreach (string file in new[] { "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(TestData.Stories260K, file), Path.Combine(model, file));
        }
        using Process mkfifo = Process.Start("mkfifo", [Path.Combine(model, "tokenizer.model")]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return model;
    }

    [Fact]
    public void Temporary_folders_of_runs_that_are_gone_are_removed_and_reported()
    {
        int deadPid;
        using (Process done = Process.Start("true"))
        {
            done.WaitForExit();
            deadPid = done.Id;
        }
        // Names as TemporaryNames makes them: .NAME.KIND-PID-START-NS-N (NS: the pid namespace, ours), the shape before machines were named, judged as then.
        string ns = TemporaryNames.Owner.Split('-')[2];
        // A run that was killed; our own pid with another start time (the pid was reused); a live run's; not ours.
        string dead = _temp.File($".out.tmp-{deadPid.ToString(CultureInfo.InvariantCulture)}-12345-{ns}-0");
        Directory.CreateDirectory(dead);
        File.WriteAllText(Path.Combine(dead, "model.safetensors"), "partial");
        // (Aside as "old" while its name holds a later output: nothing to put back, so removed.)
        string reused = _temp.File($".earlier.old-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-1-{ns}-3");
        Directory.CreateDirectory(reused);
        Directory.CreateDirectory(_temp.File("earlier"));
        string live = TemporaryNames.Sibling(_temp.File("out"), "tmp");
        Directory.CreateDirectory(live);
        string foreign = _temp.File(".out.tmp-notours");
        Directory.CreateDirectory(foreign);

        CopalProcess.Result r = CopalProcess.Run("synth", "--config", Path.Combine(TestData.Stories260K, "config.json"),
            "-o", _temp.File("out"), "--dtype", "f32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.False(Directory.Exists(dead));
        Assert.False(Directory.Exists(reused));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(foreign));
        string[] notices = r.Stderr.Split('\n').Where(l => l.Contains("stale", StringComparison.Ordinal)).ToArray();
        string notice = Assert.Single(notices);
        Assert.Contains("removed 2 stale temporary", notice, StringComparison.Ordinal);
        Assert.Contains(_temp.Path, notice, StringComparison.Ordinal);
    }

    /// <summary>
    /// Where folders cannot be swapped in one step (not Linux, or a file system without RENAME_EXCHANGE: NFS, FUSE),
    /// --force replaces an output by two renames, the old folder aside as "old" first. A run killed between them
    /// leaves the previous output aside and nothing at its name: the next run writing there puts it back, and removes
    /// the unfinished one, rather than deleting both.
    /// </summary>
    [Fact]
    public void A_previous_output_a_killed_run_left_aside_is_put_back()
    {
        int deadPid;
        using (Process done = Process.Start("true"))
        {
            done.WaitForExit();
            deadPid = done.Id;
        }
        string owner = $"{deadPid.ToString(CultureInfo.InvariantCulture)}-12345-{TemporaryNames.Owner.Split('-')[2]}";
        string aside = _temp.File($".out.old-{owner}-0");
        Directory.CreateDirectory(aside);
        File.WriteAllText(Path.Combine(aside, "config.json"), "previous");
        string unfinished = _temp.File($".out.tmp-{owner}-1");
        Directory.CreateDirectory(unfinished);
        File.WriteAllText(Path.Combine(unfinished, "config.json"), "unfinished");

        CopalProcess.Result r = CopalProcess.Run("synth", "--config", Path.Combine(TestData.Stories260K, "config.json"),
            "-o", _temp.File("other"), "--dtype", "f32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("previous", File.ReadAllText(Path.Combine(_temp.Path, "out", "config.json")));
        Assert.False(Directory.Exists(aside));
        Assert.False(Directory.Exists(unfinished));
        Assert.Contains($"copal: put back 1 output that an interrupted run had moved aside in '{_temp.Path}': out", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("removed 1 stale temporary entry", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// continual without --temp keeps its working folder of intermediate models in the system temp folder, where a
    /// killed run leaves it: the next continual run removes it from there (TMPDIR names that folder), even one that
    /// then fails on its own input.
    /// </summary>
    [Fact]
    public void Continual_without_temp_removes_a_killed_runs_working_folder_from_the_system_temp()
    {
        int deadPid;
        using (Process done = Process.Start("true"))
        {
            done.WaitForExit();
            deadPid = done.Id;
        }
        string tmp = _temp.File("tmp");
        string dead = Path.Combine(tmp, $".continual.tmp-{deadPid.ToString(CultureInfo.InvariantCulture)}-12345-{TemporaryNames.Owner.Split('-')[2]}-0");
        Directory.CreateDirectory(dead);
        CopalProcess.Result r = CopalProcess.RunWithEnvironment(new Dictionary<string, string?> { ["TMPDIR"] = tmp },
            "continual", "-m", _temp.File("no-model"), "--datasets", $"a={_temp.File("no-text")}", "-o", _temp.File("report"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.False(Directory.Exists(dead), r.Stderr);
        Assert.Contains($"removed 1 stale temporary entry of interrupted runs from '{tmp}'", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Whether a folder named <paramref name="pattern"/> exists in <paramref name="parent"/> and holds something (or may be empty).</summary>
    private static bool HoldsEntries(string parent, string pattern, bool empty = false)
    {
        try
        {
            return Directory.Exists(parent) && Directory.GetDirectories(parent, pattern).Any(d => empty || Directory.GetFileSystemEntries(d).Length > 0);
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _temp.Dispose();
        _inputs.Dispose();
    }
}
