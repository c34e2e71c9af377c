namespace Copal.Tensors.IO;

/// <summary>
/// An exclusive, advisory lock on a folder that a run writes into after minutes of work (prune's --state), so that a
/// second run on the same folder is refused before it starts rather than having its files interleave with the first's.
/// It is a lock file in the folder, opened with <see cref="FileShare.None"/>: on Unix .NET takes flock(LOCK_EX |
/// LOCK_NB) on it, on Windows a share mode; either ends with the process, so a killed run never blocks the next one.
/// The file is deleted while still locked when the lock is released (<see cref="FileOptions.DeleteOnClose"/>, which on
/// Unix unlinks before unlocking, and .NET reopens a file unlinked or replaced under it as it locks), so a run that
/// opened the old file just then cannot hold a lock beside a newer run's. A killed run leaves the empty file, which the
/// next run to lock the folder takes over and deletes.
/// </summary>
public sealed class FolderLock : IDisposable
{
    private readonly FileStream _file;
    private readonly IReadOnlyList<string> _madeFolders;
    private int _released;

    // The locks this process holds, released by ReleaseOwn when a second signal ends it at once.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<FolderLock, byte> s_held = new();

    private FolderLock(FileStream file, IReadOnlyList<string> madeFolders)
    {
        _file = file;
        _madeFolders = madeFolders;
    }

    /// <summary>The lock file's path.</summary>
    public string Path => _file.Name;

    /// <summary>
    /// Locks <paramref name="folder"/> (made, with its missing parents, if needed and <paramref name="makeFolder"/>)
    /// through its file <paramref name="lockFileName"/>; null, with nothing made, when another process holds the lock.
    /// </summary>
    /// <remarks>
    /// A folder that another run made for its lock is removed by that run when it ends without writing there
    /// (<see cref="Dispose"/>): it can vanish between this call making sure it exists and opening the file in it, and
    /// also while .NET opens the file again after finding it unlinked under its lock. The folder is then made again and
    /// the open retried; a folder that keeps vanishing is taken as held by another run (null), never left as .NET's
    /// "Could not find a part of the path".
    /// </remarks>
    /// <exception cref="IOException">The folder or the lock file cannot be made (a permission, a read-only file system).</exception>
    /// <exception cref="UnauthorizedAccessException">The lock file cannot be opened (the folder cannot be written, or the file read).</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist and <paramref name="makeFolder"/> is false.</exception>
    public static FolderLock? TryAcquire(string folder, string lockFileName, bool makeFolder = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentException.ThrowIfNullOrEmpty(lockFileName);
        var made = new List<string>();
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                if (makeFolder)
                {
                    made.AddRange(MadeFolders.Create(folder).Where(f => !made.Contains(f, StringComparer.Ordinal)));
                }
                // Opened for reading: flock needs no write access, so a file a killed run of another user left (0644) is
                // taken over too, where opening it for writing was refused as if the folder could not be written.
                var file = new FileStream(System.IO.Path.Combine(folder, lockFileName), FileMode.OpenOrCreate, FileAccess.Read, FileShare.None,
                    bufferSize: 1, FileOptions.DeleteOnClose);
                var held = new FolderLock(file, made);
                s_held[held] = 0;
                return held;
            }
            catch (IOException e) when (IsHeldElsewhere(e))
            {
                MadeFolders.RemoveEmpty(made);
                return null;
            }
            catch (IOException e) when (makeFolder && Vanished(folder, e))
            {
                if (attempt == VanishedFolderAttempts)
                {
                    MadeFolders.RemoveEmpty(made);
                    return null;
                }
                // Removed by the run that made it, as that run ended: made again.
            }
            catch
            {
                MadeFolders.RemoveEmpty(made);
                throw;
            }
        }
    }

    // The folder was removed while it was made or its file opened: .NET says "Could not find a part of the path" (the
    // open), or "The file '...' already exists." (mkdir found the folder, gone when .NET then looked at what it was).
    private static bool Vanished(string folder, IOException e) =>
        e is DirectoryNotFoundException || (e.GetType() == typeof(IOException) && IsAlreadyExists(e) && !System.IO.Path.Exists(folder));

    // EEXIST's number (17 on Linux, macOS and the BSDs); ERROR_FILE_EXISTS or ERROR_ALREADY_EXISTS on Windows.
    private static bool IsAlreadyExists(IOException e) =>
        OperatingSystem.IsWindows() ? e.HResult is unchecked((int)0x80070050) or unchecked((int)0x800700B7) : e.HResult == 17;

    // How often a folder removed under TryAcquire is made again: each time another run made it and ended in between.
    private const int VanishedFolderAttempts = 8;

    // What .NET throws when the file is locked by another: EWOULDBLOCK's number as the HResult on Unix (11 on Linux,
    // 35 on macOS and the BSDs), ERROR_SHARING_VIOLATION on Windows.
    private static bool IsHeldElsewhere(IOException e) =>
        e.GetType() == typeof(IOException) && e.HResult == (OperatingSystem.IsWindows() ? unchecked((int)0x80070020) : OperatingSystem.IsLinux() ? 11 : 35);

    /// <summary>
    /// Deletes the lock file and releases the lock, then removes the folders <see cref="TryAcquire"/> made where they
    /// are empty (the run wrote nothing there). Never throws.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }
        s_held.TryRemove(this, out _);
        try
        {
            _file.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing was written through it; the lock ends with the handle's close regardless.
        }
        MadeFolders.RemoveEmpty(_madeFolders);
    }

    /// <summary>
    /// Releases every lock this process holds: a run stopped at once (a second Ctrl-C or SIGTERM) calls it after
    /// settling its commit records (<see cref="TemporaryNames.RemoveOwn"/>) and before removing the empty folders it
    /// made (<see cref="MadeFolders.RemoveOwn"/>), so it leaves no lock file. Never throws.
    /// </summary>
    public static void ReleaseOwn()
    {
        foreach (FolderLock held in s_held.Keys)
        {
            held.Dispose();
        }
    }
}
