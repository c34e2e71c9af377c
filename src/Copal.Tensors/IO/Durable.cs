using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// Makes a finished output survive a power cut or a kernel crash, not only a killed process: its files' bytes, and
/// the folder entries that name them, are forced to the disk (fsync(2)) before the rename that publishes them, and the
/// rename itself after. Without it a file system that writes data late (ext4, xfs and btrfs delay allocation) can
/// come back from a crash with the new name pointing at an empty or partial file: the old output gone, the new one
/// not there. Flushing data the writer already flushed (a safetensors file) costs next to nothing.
/// </summary>
internal static class Durable
{
    // errno values for "this object cannot be flushed" (a folder on some file systems, a read-only file system):
    // nothing is held back in memory there, so there is nothing to lose.
    private const int Einval = 22;
    private const int Erofs = 30;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);

    /// <summary>Raised after each path is flushed, for tests that check an output was made durable before it was published.</summary>
    internal static event Action<string>? Flushed;

    /// <summary>Forces the bytes of file <paramref name="path"/> to the disk.</summary>
    /// <exception cref="IOException">The disk refused them (an I/O error, a disk that filled as they were allocated), worded "reason : 'path'".</exception>
    public static void FlushFile(string path) => Flush(path);

    /// <summary>Forces the entries of folder <paramref name="path"/> (what names it holds) to the disk: where a rename or a new file appears.</summary>
    public static void FlushFolder(string path)
    {
        // Windows journals its folders and has no way to flush one; elsewhere a folder is flushed as a file is.
        if (!OperatingSystem.IsWindows())
        {
            Flush(path);
        }
    }

    /// <summary>Flushes every file under <paramref name="folder"/>, each folder after what it holds; links are not followed.</summary>
    public static void FlushTree(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        FlushTree(new DirectoryInfo(folder));
    }

    // By hand: .NET's recursive enumeration descends into linked folders, which are not the output's.
    private static void FlushTree(DirectoryInfo folder)
    {
        foreach (FileSystemInfo entry in folder.EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is not null)
            {
                continue;
            }
            if (entry is DirectoryInfo sub)
            {
                FlushTree(sub);
            }
            else
            {
                FlushFile(entry.FullName);
            }
        }
        FlushFolder(folder.FullName);
    }

    /// <summary>Flushes the folder that holds <paramref name="path"/>: after a rename there, so that the new name lasts.</summary>
    public static void FlushParent(string path) => FlushFolder(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");

    private static void Flush(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsWindows())
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            stream.Flush(flushToDisk: true);
        }
        else
        {
            FlushUnix(path);
        }
        Flushed?.Invoke(path);
    }

    // Worded as .NET words its I/O errors ("reason : 'path'"), so AtomicDirectory.Reason gives the reason alone to
    // messages that name the output themselves.
    private static IOException Failure(string path, int errno) => new($"{Marshal.GetPInvokeErrorMessage(errno)} : '{path}'");

    private static void FlushUnix(string path)
    {
        // O_RDONLY (0), which Linux and the BSDs accept for fsync of files and folders alike.
        int fd = Open(path, 0);
        if (fd < 0)
        {
            throw Failure(path, Marshal.GetLastPInvokeError());
        }
        try
        {
            if (Fsync(fd) != 0 && Marshal.GetLastPInvokeError() is int errno && errno is not (Einval or Erofs))
            {
                throw Failure(path, errno);
            }
        }
        finally
        {
            _ = Close(fd); // after fsync there is nothing left for close to report
        }
    }
}
