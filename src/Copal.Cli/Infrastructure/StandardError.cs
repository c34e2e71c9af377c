using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// A line written to standard error by a signal's handler. The runtime's console writers share one lock, and a write
/// to a standard output that does not drain (a pipe its reader has stopped reading) holds it: a notice written through
/// <see cref="Console.Error"/> then waited with it, and the cancellation it comes before waited too, with nothing on
/// the screen. Written straight to the file, in one write, the notice shows and the run is cancelled at once.
/// </summary>
internal static class StandardError
{
    private const int Descriptor = 2;

    public static void WriteLine(string text)
    {
        if (OperatingSystem.IsWindows())
        {
            Console.Error.WriteLine(text);
            return;
        }
        try
        {
            using var handle = new SafeFileHandle(Descriptor, ownsHandle: false);
            using var stream = new FileStream(handle, FileAccess.Write, bufferSize: 0);
            stream.Write(Encoding.UTF8.GetBytes(text + "\n"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Standard error closed or full: there is no one to tell.
        }
    }
}
