using System.Runtime.InteropServices;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Whether standard output is a pipe whose reader has exited (<c>copal generate ... | head -n 3</c>). The runtime
/// ignores SIGPIPE and its console writer drops a write that fails with EPIPE, so a command streaming text learns of
/// it only by asking: poll(2) reports POLLERR on the write end of a pipe that no one can read any more.
/// </summary>
internal static class StandardOutput
{
    private const short PollErr = 0x008;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "poll")]
    private static extern int Poll(ref PollFd fds, nuint count, int timeoutMilliseconds);

    /// <summary>
    /// True when nothing written to standard output can be read any more. False for a terminal, a file, /dev/null or a
    /// pipe still read, and where poll(2) is not there to ask (Windows).
    /// </summary>
    public static bool ReaderGone()
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }
        // POLLERR is reported whatever events asks for; a timeout of 0 returns at once.
        var fd = new PollFd { Fd = 1 };
        return Poll(ref fd, 1, 0) > 0 && (fd.Revents & PollErr) != 0;
    }
}
