using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Copal.Cli.Tests;

/// <summary>
/// A named pipe filled to its capacity, for a copal run's standard output: the run's next write waits until the test
/// reads, so a test holds the run at that write without any timing.
/// </summary>
internal static partial class FullFifo
{
    private const int GetPipeSize = 1032; // fcntl's F_GETPIPE_SZ

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(SafeHandle fd, int command);

    /// <summary>Makes the pipe at <paramref name="path"/> and fills it; returns the test's end and the filler's length.</summary>
    public static (FileStream Pipe, int Capacity) Make(string path)
    {
        using (Process mkfifo = Process.Start("mkfifo", [path]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        // Read and write: the open does not wait for a writer, and the run's open for writing does not wait for a reader.
        var pipe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        int capacity = Fcntl(pipe.SafeFileHandle, GetPipeSize);
        Assert.True(capacity > 0, $"F_GETPIPE_SZ failed: errno {Marshal.GetLastPInvokeError()}");
        pipe.Write(new byte[capacity]);
        return (pipe, capacity);
    }
}
