using System.Runtime.InteropServices;
using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Whether standard output is a pipe whose reader has exited (<c>copal generate ... | head -n 3</c>). The runtime
/// ignores SIGPIPE and its console writer drops a write that fails with EPIPE, so a command learns of it only by
/// asking: poll(2) reports POLLERR on the write end of a pipe that no one can read any more. Every command asks the
/// same way: its writes through <see cref="StandardOutputWriter"/>, generate also after each token, and
/// <see cref="CommonOptions.SetBody"/> once the command is done; a cut-off output ends the run with exit 141, as
/// SIGPIPE would have ended it.
/// </summary>
internal static class StandardOutput
{
    private const short PollErr = 0x008;

    // Linux's ioctl that counts the bytes waiting in a pipe (either end may ask).
    private const ulong FionRead = 0x541B;

    // Set once output was found to be lost, so the run stops once and says so once.
    private static int s_cutShort;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "poll")]
    private static extern int Poll(ref PollFd fds, nuint count, int timeoutMilliseconds);

    [DllImport("libc", EntryPoint = "ioctl")]
    private static extern int IoctlCount(int fd, ulong request, out int count);

    /// <summary>
    /// True when <paramref name="path"/> names what standard output is open on (<c>/dev/stdout</c>, <c>/proc/self/fd/1</c>,
    /// the terminal's or the pipe's own name), through links: written as a file, it would miss the closed-reader check,
    /// and opening a pipe whose reader has gone waits for a reader that never comes. False where Linux's file
    /// identities are not there to ask.
    /// </summary>
    public static bool IsNamedBy(string path) =>
        FileKind.IsStream(path) && FileIdentity.Of(path) is { } named && named == FileIdentity.OfOpen(1);

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

    /// <summary>
    /// Asked before a write to standard output, and by generate after each token: true when the reader has exited, so
    /// anything written now is lost. The first time, the run is cancelled as SIGPIPE would end it
    /// (<see cref="Cancellation.OutputClosed"/>, exit 141), with its notice on stderr.
    /// </summary>
    public static bool StopIfReaderGone()
    {
        if (Volatile.Read(ref s_cutShort) != 0)
        {
            return true;
        }
        if (!ReaderGone())
        {
            return false;
        }
        CutShort();
        return true;
    }

    /// <summary>
    /// Asked once a command has done its work: whether its output was cut short. Either a write found the reader gone
    /// (<see cref="StopIfReaderGone"/>), or the reader exited after the last write without reading all of it (the
    /// bytes still in the pipe, on Linux). A reader that read everything and then exited cut nothing.
    /// </summary>
    public static bool WasCutShort()
    {
        if (Volatile.Read(ref s_cutShort) != 0)
        {
            return true;
        }
        if (!ReaderGone() || !OperatingSystem.IsLinux() || IoctlCount(1, FionRead, out int unread) != 0 || unread <= 0)
        {
            return false;
        }
        CutShort();
        return true;
    }

    private static void CutShort()
    {
        if (Interlocked.Exchange(ref s_cutShort, 1) == 0)
        {
            Cancellation.OutputClosed();
        }
    }
}
