using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Copal.Testing;
using Microsoft.Win32.SafeHandles;
using static Copal.Cli.Tests.SignalledRun;

namespace Copal.Cli.Tests;

/// <summary>
/// A signal's notice reaches a terminal at once while standard output is blocked (docs/cli.md): on a terminal the
/// notice first ends the progress line, and that break went through the console, whose writers share the lock a blocked
/// write to standard output holds, so neither the notice nor the cancellation came until the reader read again.
/// </summary>
public sealed partial class BlockedOutputSignalTests : IDisposable
{
    private const int ReadWriteNoControllingTerminal = 2 | 0x100; // O_RDWR | O_NOCTTY

    private readonly TempDir _temp = new("copal-blocked-");

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    private static partial int OpenTerminalPair(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    private static partial int GrantTerminal(SafeHandle fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int UnlockTerminal(SafeHandle fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ptsname_r", SetLastError = true)]
    private static partial int TerminalName(SafeHandle fd, byte[] buffer, nuint length);

    /// <summary>
    /// Standard error is a terminal (the test holds its other side) and standard output a named pipe filled
    /// beforehand to its capacity, so tokenize's line waits in write(2) until the test reads. SIGTERM is sent once it
    /// waits there, and the terminal must show the notice before the pipe is read. No timing decides the outcome.
    /// </summary>
    [PipeWriteWaitFact]
    public void A_signal_notice_reaches_a_terminal_while_standard_output_is_blocked()
    {
        using var terminal = new SafeFileHandle(OpenTerminalPair(ReadWriteNoControllingTerminal), ownsHandle: true);
        Assert.False(terminal.IsInvalid, $"posix_openpt failed: errno {Marshal.GetLastPInvokeError()}");
        var name = new byte[256];
        Assert.Equal(0, GrantTerminal(terminal));
        Assert.Equal(0, UnlockTerminal(terminal));
        Assert.Equal(0, TerminalName(terminal, name, (nuint)name.Length));
        string pts = Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0));
        // The test holds the terminal's side too: a read of the other side with none open ends at once (EIO).
        using var held = new SafeFileHandle(Open(pts, ReadWriteNoControllingTerminal), ownsHandle: true);
        Assert.False(held.IsInvalid, $"open {pts} failed: errno {Marshal.GetLastPInvokeError()}");
        var screen = new StringBuilder();
        using var fromTerminal = new FileStream(terminal, FileAccess.Read, bufferSize: 0);
        Task showing = Task.Run(() =>
        {
            var buffer = new byte[4096];
            try
            {
                for (int n; (n = fromTerminal.Read(buffer, 0, buffer.Length)) > 0;)
                {
                    lock (screen)
                    {
                        screen.Append(Encoding.UTF8.GetString(buffer, 0, n));
                    }
                }
            }
            catch (IOException)
            {
                // EIO once no process holds the terminal's other side.
            }
        });

        string fifo = _temp.File("stdout");
        (FileStream Pipe, int Capacity) full = FullFifo.Make(fifo);
        using FileStream pipe = full.Pipe;
        int capacity = full.Capacity;
        bool blocked = false, shown = false;

        CopalProcess.Result r = CopalProcess.RunInShell($"exec >'{fifo}' 2>'{pts}'", (p, _) =>
        {
            blocked = Until(p, () => WaitsToWriteAPipe(p.Id));
            Kill("TERM", p.Id);
            shown = Until(p, () => Shown(screen).Contains("cancelling on SIGTERM", StringComparison.Ordinal));
            Drain(pipe, capacity);
        }, "tokenize", "-m", TestData.Stories260K, "-t", "Once");

        held.Dispose(); // the reading ends (EIO) once no one holds the terminal
        Assert.True(showing.Wait(TimeSpan.FromMinutes(1)), "the terminal's reading did not end");
        Assert.True(blocked, $"the run never waited on its standard output; exit {r.ExitCode}; terminal: {Shown(screen)}");
        Assert.True(shown, $"the notice did not reach the terminal while standard output was blocked; exit {r.ExitCode}; terminal: {Shown(screen)}");
    }

    private static string Shown(StringBuilder screen)
    {
        lock (screen)
        {
            return screen.ToString();
        }
    }

    // A thread of the process waits in the kernel's pipe write (its wait channel, "pipe_write" or "anon_pipe_write").
    private static bool WaitsToWriteAPipe(int pid)
    {
        try
        {
            return Directory.EnumerateDirectories($"/proc/{pid}/task").Any(task => File.ReadAllText(Path.Combine(task, "wchan")).Contains("pipe_write", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false; // a thread ended while it was looked at
        }
    }

    // Reads the filler and the run's line, so the run can end.
    private static void Drain(FileStream pipe, int filler)
    {
        Task reading = Task.Run(() =>
        {
            var buffer = new byte[65536];
            long read = 0;
            for (int n; (n = pipe.Read(buffer, 0, buffer.Length)) > 0;)
            {
                read += n;
                if (read > filler && Array.IndexOf(buffer, (byte)'\n', 0, n) >= 0)
                {
                    return;
                }
            }
        });
        Assert.True(reading.Wait(TimeSpan.FromMinutes(2)), "the run wrote no line after the filler");
    }

    public void Dispose() => _temp.Dispose();
}
