namespace Copal.Cli.Infrastructure;

/// <summary>
/// Whether standard input or output was closed when copal started (<c>&lt;&amp;-</c>, <c>&gt;&amp;-</c>). The runtime
/// opens a pipe of its own while it starts, and the system gives it the lowest free descriptors: 0 or 1 then name that
/// pipe. Reading "standard input" read a pipe whose writer is this process, so the read waited for good; writing
/// "standard output" wrote to a read end and failed as "permission denied", which named no cause.
/// A descriptor this process opened carries close-on-exec (the runtime opens all its own so), and none inherited can:
/// exec would have closed it. That tells a closed standard input from one a parent left a pipe's write end beside.
/// </summary>
internal static class ClosedAtStart
{
    private const int AccessMode = 3; // O_ACCMODE: 0 read-only, 1 write-only, 2 read-write
    private const int CloseOnExec = 0x80000; // O_CLOEXEC (02000000 in fdinfo's octal flags)

    /// <summary>Standard input is a descriptor this process opened itself: it was closed when copal started.</summary>
    public static bool StandardInput() => OpenedHere("0");

    /// <summary>Standard output is a descriptor this process opened itself: it was closed when copal started.</summary>
    public static bool StandardOutput() => OpenedHere("1");

    /// <summary>Standard output is open for reading only (<c>1&lt;FILE</c>), not closed: nothing can be written to it.</summary>
    public static bool StandardOutputReadOnly()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return (FlagsOf("1") & AccessMode) == 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The descriptor, other than 0, through which this process itself could write the pipe that is its standard
    /// input (a parent that left the write end open in copal, as a <c>subprocess</c> with <c>close_fds=False</c>
    /// does): reading to the end would wait for good, since the last writer is the reader. Null where there is none.
    /// </summary>
    public static string? InputWriterHeld()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        try
        {
            string? stdin = new FileInfo("/proc/self/fd/0").LinkTarget;
            if (stdin is null || !stdin.StartsWith("pipe:", StringComparison.Ordinal))
            {
                return null;
            }
            foreach (string entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                string fd = Path.GetFileName(entry);
                if (fd != "0" && new FileInfo(entry).LinkTarget == stdin && (FlagsOf(fd) & AccessMode) != 0)
                {
                    return fd;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A descriptor closed while it was looked at, or no /proc: read standard input as it is.
        }
        return null;
    }

    private static bool OpenedHere(string fd)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return (FlagsOf(fd) & CloseOnExec) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // the descriptor is not open at all, or no /proc
        }
    }

    // The "flags:" line of /proc/self/fdinfo/FD, which is octal; 0 where there is none.
    private static int FlagsOf(string fd)
    {
        foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
        }
        return 0;
    }
}
