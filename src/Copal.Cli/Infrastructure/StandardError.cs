using System.Runtime.InteropServices;
using System.Text;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// A line written to standard error by a signal's handler. The runtime's console writers share one lock, and a write
/// to a standard output that does not drain (a pipe its reader has stopped reading) holds it: a notice written through
/// <see cref="Console.Error"/> then waited with it, and the cancellation it comes before waited too, with nothing on
/// the screen. The line goes straight to the descriptor with write(2), which writes at the descriptor's own offset as
/// the console does: a <see cref="FileStream"/> over it writes a file at an offset of its own (pwrite), and the
/// console's next line (<c>2&gt; log</c>) overwrote the notice.
/// </summary>
internal static class StandardError
{
    private const int Descriptor = 2;
    private const int Interrupted = 4; // EINTR

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern nint Write(int fd, byte[] buffer, nuint count);

    public static void WriteLine(string text)
    {
        if (OperatingSystem.IsWindows())
        {
            Console.Error.WriteLine(text);
            return;
        }
        byte[] bytes = Encoding.UTF8.GetBytes(text + "\n");
        while (bytes.Length > 0)
        {
            nint written = Write(Descriptor, bytes, (nuint)bytes.Length);
            if (written < 0 && Marshal.GetLastPInvokeError() == Interrupted)
            {
                continue;
            }
            if (written <= 0)
            {
                return; // standard error closed or full: there is no one to tell
            }
            bytes = bytes[(int)written..];
        }
    }
}
