namespace Copal.Cli.Infrastructure;

/// <summary>
/// Whether standard input or output was closed when copal started (<c>&lt;&amp;-</c>, <c>&gt;&amp;-</c>). The runtime
/// opens a pipe of its own while it starts, and the system gives it the lowest free descriptors: 0 or 1 then name that
/// pipe. Reading "standard input" read a pipe whose writer is this process, so the read waited for good; writing
/// "standard output" wrote to a read end and failed as "permission denied", which named no cause.
/// </summary>
internal static class ClosedAtStart
{
    private const int AccessMode = 3; // O_ACCMODE: 0 read-only, 1 write-only, 2 read-write

    /// <summary>
    /// Standard input is a pipe whose write end this process holds too: its own. A pipe from another process (a
    /// shell's <c>|</c>) is written by that one.
    /// </summary>
    public static bool StandardInput()
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
                if (fd != "0" && new FileInfo(entry).LinkTarget == stdin && AccessOf(fd) != 0)
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

    /// <summary>Standard output is open for reading only (the runtime's pipe, or a <c>1&lt;file</c>): nothing can be written to it.</summary>
    public static bool StandardOutput()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return AccessOf("1") == 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // The access mode of the "flags:" line of /proc/self/fdinfo/FD, which is octal; -1 where there is none.
    private static int AccessOf(string fd)
    {
        foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8) & AccessMode;
            }
        }
        return -1;
    }
}
