namespace Copal.Cli.Infrastructure;

/// <summary>
/// Whether standard input was closed when copal started (<c>copal tokenize -f - &lt;&amp;-</c>). The runtime opens a
/// pipe of its own while it starts, and the system gives it the lowest free descriptor: 0. Reading "standard input"
/// then reads that pipe, whose writer is this process, so the read waited for good. Such a pipe is told apart by its
/// write end being open in this process too; a pipe from another process (a shell's <c>|</c>) is written by that one.
/// </summary>
internal static class ClosedStandardInput
{
    private const int AccessMode = 3; // O_ACCMODE: 0 read-only, 1 write-only, 2 read-write

    public static bool Detected()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            string? stdin = new FileInfo("/proc/self/fd/0").LinkTarget;
            if (stdin is null || !stdin.StartsWith("pipe:", StringComparison.Ordinal))
            {
                return false;
            }
            foreach (string entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                string fd = Path.GetFileName(entry);
                if (fd != "0" && new FileInfo(entry).LinkTarget == stdin && OpenForWriting(fd))
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A descriptor closed while it was looked at, or no /proc: read standard input as it is.
        }
        return false;
    }

    // The "flags:" line of /proc/self/fdinfo/FD, in octal.
    private static bool OpenForWriting(string fd)
    {
        foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & AccessMode) != 0;
            }
        }
        return false;
    }
}
