using System.Text;
using Copal.Testing;
using static Copal.Cli.Tests.SignalledRun;

namespace Copal.Cli.Tests;

/// <summary>
/// A signal that comes once a run's output is in place has nothing left to cancel: the run exits 0, its output
/// complete, and says so after its "cancelling..." line instead of leaving that as its last word (docs/cli.md).
/// </summary>
public sealed class LateSignalTests : IDisposable
{

    private readonly TempDir _temp = new("copal-late-");

    /// <summary>
    /// compact writes its summary line to standard output after its folder is renamed into place. Standard output is
    /// here a named pipe filled beforehand to its capacity, so that write waits until the test reads: the run is held
    /// past its commit, SIGTERM is sent, and the pipe is read only once the run has said "cancelling". No timing
    /// decides the outcome.
    /// </summary>
    [LinuxFact]
    public void A_signal_after_the_output_is_in_place_exits_0_and_says_the_output_is_kept()
    {
        string pruned = _temp.File("pruned"), outDir = _temp.File("compact"), fifo = _temp.File("stdout");
        CopalProcess.Result prune = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", pruned, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
        Assert.True(prune.ExitCode == 0, prune.Stderr);
        (FileStream Pipe, int Capacity) full = FullFifo.Make(fifo);
        using FileStream pipe = full.Pipe;
        int capacity = full.Capacity;
        string summary = "";
        bool held = false, heard = false;

        CopalProcess.Result r = CopalProcess.RunInShell($"exec >'{fifo}'", (p, stderr) =>
        {
            held = Until(p, () => File.Exists(Path.Combine(outDir, "model.safetensors")));
            Kill("TERM", p.Id);
            heard = Until(p, () => stderr().Contains("cancelling", StringComparison.Ordinal));
            summary = Drain(pipe, capacity);
        }, "compact", "-m", pruned, "-o", outDir);

        Assert.True(held, $"the run ended before its output was in place; stderr: {r.Stderr}");
        Assert.True(heard, $"the run did not say it was cancelling; stderr: {r.Stderr}");
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}, expected 0: the output was complete; stderr: {r.Stderr}");
        Assert.Contains($"wrote {outDir}", summary, StringComparison.Ordinal);
        Assert.EndsWith("copal: too late to cancel: the run had done its work; its output is complete and kept (exit 0)\n", r.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outDir, "config.json")));
        Assert.Equal([outDir, pruned, fifo], Directory.GetFileSystemEntries(_temp.Path).Order(StringComparer.Ordinal));
    }

    /// <summary>Reads the filler back, then what the run wrote after it, up to its line's end.</summary>
    private static string Drain(FileStream pipe, int filler)
    {
        var text = new StringBuilder();
        var buffer = new byte[65536];
        long read = 0;
        Task reading = Task.Run(() =>
        {
            for (int n; (n = pipe.Read(buffer, 0, buffer.Length)) > 0;)
            {
                int skip = (int)Math.Clamp(filler - read, 0, n);
                read += n;
                text.Append(Encoding.UTF8.GetString(buffer, skip, n - skip));
                if (read > filler && text.ToString().Contains('\n', StringComparison.Ordinal))
                {
                    return;
                }
            }
        });
        Assert.True(reading.Wait(TimeSpan.FromMinutes(2)), $"the run wrote no line after the filler; read {read} bytes");
        return text.ToString();
    }

    public void Dispose() => _temp.Dispose();
}
