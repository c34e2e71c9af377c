using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// An advisory lock on a folder, so that a run writing into it after minutes of work (prune's --state) is alone there,
/// and a run reading from it (prune's --resume) never has it written under it: a writer excludes every other holder,
/// readers share it. On Linux and macOS it is a flock(2) on the folder itself, opened read-only: nothing is written in
/// the folder (it may be an input, or one this user cannot write), and the lock ends with the process, SIGKILL included,
/// leaving nothing behind. On Windows a writer holds a lock file in its folder, opened unshared and deleted as it is
/// closed; a reader takes no lock there.
/// </summary>
internal sealed class FolderLock : IDisposable
{
    private readonly int _fd; // the folder, open and locked (Linux, macOS); -1 when none
    private readonly FileStream? _file; // a writer's lock file (Windows)
    private readonly IReadOnlyList<string> _madeFolders;
    private int _released;

    // The locks this process holds, released by ReleaseOwn when a second signal ends it at once.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<FolderLock, byte> s_held = new();

    private FolderLock(int fd, FileStream? file, IReadOnlyList<string> madeFolders)
    {
        _fd = fd;
        _file = file;
        _madeFolders = madeFolders;
        s_held[this] = 0;
    }

    /// <summary>Raised with the folder once it is open and before it is locked, for tests that replace it just then.</summary>
    internal static event Action<string>? Opened;

    /// <summary>
    /// Locks <paramref name="folder"/> to write there, excluding every other holder (made, with its missing parents, if
    /// needed); null, with nothing made, when another process holds a lock on it. On Windows the lock is the file
    /// <paramref name="windowsLockFileName"/> in the folder.
    /// </summary>
    /// <remarks>
    /// A folder that another run made for its lock is removed by that run, still locked, when it ends without writing
    /// there (<see cref="Dispose"/>): a lock taken on it just then is on a folder no longer at the path. The folder is
    /// then made again and locked anew; one that keeps vanishing is taken as held by another run (null).
    /// </remarks>
    /// <exception cref="IOException">The folder cannot be made or opened (a permission, a file on the way).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder cannot be opened (this user may not list it).</exception>
    public static FolderLock? TryAcquireToWrite(string folder, string windowsLockFileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentException.ThrowIfNullOrEmpty(windowsLockFileName);
        return OperatingSystem.IsWindows() ? TryLockFile(folder, windowsLockFileName) : TryFlock(folder, exclusive: true, make: true);
    }

    /// <summary>
    /// Locks the existing <paramref name="folder"/> to read from it: shared with other readers, excluding a writer; null
    /// when a writer holds it. Nothing in the folder is made or changed. On Windows no lock is taken (a lock that held
    /// nothing is returned).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="IOException">The folder cannot be opened (a file of that name).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder cannot be opened (this user may not list it).</exception>
    public static FolderLock? TryAcquireToRead(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        return OperatingSystem.IsWindows() ? new FolderLock(-1, null, []) : TryFlock(folder, exclusive: false, make: false);
    }

    /// <summary>
    /// Locks the existing <paramref name="folder"/> exclusively, as a writer does, to replace it (an output folder that
    /// --force replaces, or one inside it): null when another process holds a lock on it, one that reads a state there
    /// or writes one. Nothing is made or changed. On Windows no lock is taken (a lock that held nothing is returned).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="IOException">The folder cannot be opened (a file of that name).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder cannot be opened (this user may not list it).</exception>
    public static FolderLock? TryAcquireToReplace(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        return OperatingSystem.IsWindows() ? new FolderLock(-1, null, []) : TryFlock(folder, exclusive: true, make: false);
    }

    // A folder replaced at its path while it was opened and locked (made again after a run that made it removed it, or
    // swapped out by a rename) is let go and the new one locked; this many times at most, then taken as held elsewhere.
    private const int ReplacedFolderAttempts = 8;

    private static FolderLock? TryFlock(string folder, bool exclusive, bool make)
    {
        var made = new List<string>();
        try
        {
            for (int attempt = 0; attempt < ReplacedFolderAttempts; attempt++)
            {
                if (make && !TryMake(folder, made))
                {
                    continue;
                }
                int fd = Unix.Open(folder, Unix.ReadOnlyFolder);
                if (fd < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (make && errno == Unix.Enoent)
                    {
                        continue; // removed by the run that made it, as that run ended: made again
                    }
                    throw Unix.Failure(folder, errno);
                }
                bool keep = false;
                try
                {
                    Opened?.Invoke(folder);
                    if (Unix.Flock(fd, (exclusive ? Unix.LockExclusive : Unix.LockShared) | Unix.LockNonBlocking) != 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Unix.Ewouldblock)
                        {
                            MadeFolders.RemoveEmpty(made);
                            return null;
                        }
                        // Another error is a file system that keeps no flock (some network ones): the folder is used
                        // unlocked, as .NET uses a file opened unshared there.
                    }
                    // Locked, but perhaps a folder no longer at the path (gone, or another there): then it is let go, and what is
                    // there now locked. Where this system cannot tell, the lock is taken as it is.
                    if (Identity.OfOpen(fd) is not { } locked || locked == Identity.Of(folder))
                    {
                        keep = true;
                        return new FolderLock(fd, null, made);
                    }
                }
                finally
                {
                    if (!keep)
                    {
                        _ = Unix.Close(fd);
                    }
                }
            }
            MadeFolders.RemoveEmpty(made);
            return null;
        }
        catch
        {
            MadeFolders.RemoveEmpty(made);
            throw;
        }
    }

    // Makes the folder and its missing parents, adding those made to `made`; false when it was removed as it was made
    // (mkdir found it, gone when .NET then looked at what it was: "The file '...' already exists.").
    private static bool TryMake(string folder, List<string> made)
    {
        try
        {
            made.AddRange(MadeFolders.Create(folder).Where(f => !made.Contains(f, StringComparer.Ordinal)));
            return true;
        }
        catch (IOException e) when (e.GetType() == typeof(IOException) && IsAlreadyExists(e) && !Path.Exists(folder))
        {
            return false;
        }
    }

    // EEXIST's number (17 on Linux, macOS and the BSDs); ERROR_FILE_EXISTS or ERROR_ALREADY_EXISTS on Windows.
    private static bool IsAlreadyExists(IOException e) =>
        OperatingSystem.IsWindows() ? e.HResult is unchecked((int)0x80070050) or unchecked((int)0x800700B7) : e.HResult == 17;

    // Windows: the file opened unshared holds the lock, and is deleted as it is closed.
    private static FolderLock? TryLockFile(string folder, string lockFileName)
    {
        var made = new List<string>();
        try
        {
            for (int attempt = 0; attempt < ReplacedFolderAttempts; attempt++)
            {
                if (!TryMake(folder, made))
                {
                    continue;
                }
                try
                {
                    var file = new FileStream(Path.Combine(folder, lockFileName), FileMode.OpenOrCreate, FileAccess.Read, FileShare.None,
                        bufferSize: 1, FileOptions.DeleteOnClose);
                    return new FolderLock(-1, file, made);
                }
                catch (IOException e) when (e.GetType() == typeof(IOException) && e.HResult == unchecked((int)0x80070020))
                {
                    // ERROR_SHARING_VIOLATION: another run holds the file.
                    MadeFolders.RemoveEmpty(made);
                    return null;
                }
                catch (DirectoryNotFoundException)
                {
                    // Removed by the run that made it, as that run ended: made again.
                }
            }
            MadeFolders.RemoveEmpty(made);
            return null;
        }
        catch
        {
            MadeFolders.RemoveEmpty(made);
            throw;
        }
    }

    /// <summary>
    /// Makes a lock this process holds exclusive, or shared again (<paramref name="exclusive"/>), without waiting; false
    /// when another process holds one that it conflicts with, and then this lock is no longer held (flock(2) lets go of
    /// the old lock before taking the new one): the caller disposes of it. A Windows reader's lock holds nothing to
    /// convert (true).
    /// </summary>
    public bool TryConvert(bool exclusive)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
        return _fd < 0 || Unix.Flock(_fd, (exclusive ? Unix.LockExclusive : Unix.LockShared) | Unix.LockNonBlocking) == 0
            || Marshal.GetLastPInvokeError() != Unix.Ewouldblock;
    }

    /// <summary>
    /// Removes the folders <see cref="TryAcquireToWrite"/> made where they are empty (the run wrote nothing there), still
    /// holding the lock, so that no other run locks a folder about to vanish; then releases the lock. Never throws.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }
        s_held.TryRemove(this, out _);
        if (_file is not null)
        {
            try
            {
                // The lock file first: the folder it is in is not empty before.
                _file.Dispose();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Nothing was written through it; the lock ends with the handle's close regardless.
            }
        }
        MadeFolders.RemoveEmpty(_madeFolders);
        if (_fd >= 0)
        {
            _ = Unix.Close(_fd); // a folder open read-only: close has nothing to report
        }
    }

    /// <summary>
    /// Releases every lock this process holds: a run stopped at once (a second Ctrl-C or SIGTERM) calls it after
    /// settling its commit records (<see cref="TemporaryNames.RemoveOwn"/>), before <see cref="MadeFolders.RemoveOwn"/>.
    /// Never throws.
    /// </summary>
    public static void ReleaseOwn()
    {
        foreach (FolderLock held in s_held.Keys)
        {
            held.Dispose();
        }
    }

    // open(2), flock(2) and close(2), with the numbers Linux and macOS give them.
    private static class Unix
    {
        public const int LockShared = 1, LockExclusive = 2, LockNonBlocking = 4;

        public const int Enoent = 2;

        // EWOULDBLOCK: 11 on Linux, 35 on macOS and the BSDs.
        public static readonly int Ewouldblock = OperatingSystem.IsLinux() ? 11 : 35;

        // O_RDONLY | O_DIRECTORY | O_CLOEXEC. O_DIRECTORY refuses anything else at the path (a FIFO would block the
        // open); its number is 0x4000 on Linux's Arm and PowerPC, 0x10000 on its others, 0x100000 on macOS.
        public static readonly int ReadOnlyFolder = OperatingSystem.IsLinux()
            ? 0x80000 | (RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Armv6 or Architecture.Ppc64le ? 0x4000 : 0x10000)
            : 0x1000000 | 0x100000;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
        public static extern int Flock(int fd, int operation);

        [DllImport("libc", EntryPoint = "close")]
        public static extern int Close(int fd);

        // Worded as .NET words its I/O errors, and of the type it throws for that error.
        public static Exception Failure(string path, int errno)
        {
            string message = $"{Marshal.GetPInvokeErrorMessage(errno)} : '{path}'";
            return errno switch
            {
                Enoent => new DirectoryNotFoundException(message),
                1 or 13 => new UnauthorizedAccessException(message), // EPERM, EACCES
                _ => new IOException(message),
            };
        }
    }

    // The device and inode of a folder, to tell whether the one locked is still the one at its path.
    private static unsafe class Identity
    {
        /// <summary>What <paramref name="path"/> names now; null where it is gone or this system cannot tell.</summary>
        public static FileIdentity? Of(string path)
        {
            if (OperatingSystem.IsLinux())
            {
                return FileIdentity.Of(path);
            }
            byte* buffer = stackalloc byte[DarwinStatSize];
            return OperatingSystem.IsMacOS() && (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? StatX64(path, buffer) : Stat(path, buffer)) == 0
                ? Darwin(buffer) : null;
        }

        /// <summary>What <paramref name="fd"/> is open on; null where this system cannot tell.</summary>
        public static FileIdentity? OfOpen(int fd)
        {
            if (OperatingSystem.IsLinux())
            {
                return FileIdentity.OfOpen(fd);
            }
            byte* buffer = stackalloc byte[DarwinStatSize];
            return OperatingSystem.IsMacOS() && (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? FstatX64(fd, buffer) : Fstat(fd, buffer)) == 0
                ? Darwin(buffer) : null;
        }

        // macOS's struct stat with 64-bit inodes (144 bytes): st_dev (int32) first, st_ino (uint64) at 8. Its functions are
        // stat and fstat on Arm64; on x64 those keep the old 32-bit inodes, and the 64-bit ones are named $INODE64.
        private const int DarwinStatSize = 256;

        private static FileIdentity Darwin(byte* buffer) => new((uint)*(int*)buffer, *(ulong*)(buffer + 8));

        [DllImport("libc", EntryPoint = "stat")]
        private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);

        [DllImport("libc", EntryPoint = "fstat")]
        private static extern int Fstat(int fd, byte* buffer);

        [DllImport("libc", EntryPoint = "stat$INODE64")]
        private static extern int StatX64([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);

        [DllImport("libc", EntryPoint = "fstat$INODE64")]
        private static extern int FstatX64(int fd, byte* buffer);
    }
}
