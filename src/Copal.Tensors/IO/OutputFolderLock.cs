namespace Copal.Tensors.IO;

/// <summary>
/// The lock a run holds on an existing output folder that it will replace (--force, or an empty one it renames onto),
/// and on each folder in it: a COPAL state folder there (`prune --state out/st`), or the output itself, may be what
/// another run resumes from (<see cref="FolderLock.TryAcquireToRead"/>, shared) or writes its state into
/// (<see cref="FolderLock.TryAcquireToWrite"/>, exclusive), and the output itself a model another run reads
/// (<see cref="InputFolderLock"/>, shared). Each is locked exclusively, as a state writer locks its
/// folder, so that the replacement never swaps or deletes a state under the run reading or writing it: while one does,
/// this run is refused, and while this run holds the locks, that run is. One process shares one set of locks per folder
/// (a command checks its output before its work and claims it later, both under the lock), released when its last
/// holder is disposed; a later holder adds the folders made in it since. The folders in it are locked in name order up
/// to the first that --force does not replace (the output is refused for it).
/// </summary>
internal sealed class OutputFolderLock : IDisposable
{
    private static readonly Lock s_gate = new();
    private static readonly Dictionary<string, Held> s_held = new(StringComparer.Ordinal);

    private sealed class Held
    {
        public List<FolderLock> Locks { get; } = [];

        // The folders locked, the output's own and those in it: one made there later is locked by a later holder.
        public HashSet<string> Locked { get; } = new(StringComparer.Ordinal);

        public int Holders { get; set; }

        // What was at the output's path when the first holder took the lock: nothing (false), or the folder of this
        // identity (null where this system cannot tell).
        public bool Existed { get; init; }

        public FileIdentity? Identity { get; init; }
    }

    private readonly string _folder;
    private int _released;

    private OutputFolderLock(string folder, bool existed, FileIdentity? identity)
    {
        _folder = folder;
        ExistedAtFirstLock = existed;
        IdentityAtFirstLock = identity;
    }

    /// <summary>
    /// Whether a folder was at the output's path when this process first locked it (this run's start: prune locks its
    /// output before calibrating, and claims it after): the folder a run judged replaceable, or the absence it judged.
    /// </summary>
    public bool ExistedAtFirstLock { get; }

    /// <summary>The device and inode of that folder; null where there was none or this system cannot tell.</summary>
    public FileIdentity? IdentityAtFirstLock { get; }

    /// <summary>
    /// Locks <paramref name="full"/> (the output's resolved path) and the folders in it, where it exists; a lock that
    /// holds nothing where it does not (nothing there to replace, nor anything another run could read in it). A folder in
    /// it that is a link, or that this user may not open, is not locked: --force refuses the one, and cannot delete the other.
    /// </summary>
    /// <param name="name">How messages name the output ("--out").</param>
    /// <param name="path">The output as the person gave it, for messages.</param>
    /// <param name="full">The output's path, links resolved.</param>
    /// <param name="judgeFirst">
    /// Called with the folder another run holds (the output's path, or a folder in it) before the refusal: it throws
    /// what would refuse the output anyway, which is then said instead (<see cref="AtomicDirectory.LockOutput"/>).
    /// </param>
    /// <exception cref="IOException">Another run holds a lock on the folder or on one in it: the one line says which.</exception>
    public static OutputFolderLock Acquire(string name, string path, string full, Action<string>? judgeFirst = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(full);
        lock (s_gate)
        {
            s_held.TryGetValue(full, out Held? held);
            if (held is null && !Directory.Exists(full))
            {
                // Nothing to lock, but the absence is kept while held: a folder made there meanwhile is not what was judged.
                held = s_held[full] = new Held { Existed = false };
                held.Holders++;
                return new OutputFolderLock(full, false, null);
            }
            // A later holder (the rename at the end of the run) locks what was made in the folder since the first:
            // another run's --state folder there, which the replacement would delete under that run.
            var taken = new Held();
            try
            {
                if (held?.Locked.Contains(full) != true)
                {
                    Take(full, taken, () => InUse(name, path, full, null, judgeFirst));
                }
                foreach (string inner in InnerFolders(full))
                {
                    if (held?.Locked.Contains(inner) != true)
                    {
                        Take(inner, taken, () => InUse(name, path, inner, Path.GetFileName(inner), judgeFirst));
                    }
                    // A folder --force does not replace refuses the output (AtomicDirectory says why): those after it
                    // need no lock, nor a descriptor each (a folder of thousands of subfolders ran out of them).
                    if (!AtomicDirectory.IsReplacedWithOutput(inner))
                    {
                        break;
                    }
                }
            }
            catch
            {
                taken.Locks.ForEach(l => l.Dispose());
                throw;
            }
            // The identity of the folder the lock holds: the lock checked that the path still names it.
            held ??= s_held[full] = new Held { Existed = true, Identity = FileIdentity.Of(full) };
            held.Locks.AddRange(taken.Locks);
            held.Locked.UnionWith(taken.Locked);
            held.Holders++;
            return new OutputFolderLock(full, held.Existed, held.Identity);
        }
    }

    // The folders in the output, not through a link, in ordinal order; none where it cannot be listed.
    private static IEnumerable<string> InnerFolders(string full)
    {
        try
        {
            return Directory.EnumerateDirectories(full).Where(d => new DirectoryInfo(d).LinkTarget is null).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static void Take(string folder, Held taken, Func<IOException> inUse)
    {
        FolderLock? locked;
        try
        {
            locked = FolderLock.TryAcquireToReplace(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // gone since, or one this user may not open: nothing to lock (its replacement says why it fails)
        }
        taken.Locks.Add(locked ?? throw inUse());
        taken.Locked.Add(folder);
    }

    // Worded as --state's and --resume's refusal (PruneCommand), which the other run may have met; the other run may
    // also read a model there (InputFolderLock).
    private static IOException InUse(string name, string path, string folder, string? inner, Action<string>? judgeFirst)
    {
        judgeFirst?.Invoke(folder);
        return new($"{name} '{path}'{(inner is null ? "" : $": its folder '{inner}'")} is in use by another copal run, which reads a model or a state there, or writes a state there "
            + "(its lock on the folder ends with it); run again once that run has ended, or choose another folder");
    }

    /// <summary>Lets go of this holder's share; the locks end with the last one. Never throws.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }
        lock (s_gate)
        {
            if (s_held.TryGetValue(_folder, out Held? held) && --held.Holders == 0)
            {
                s_held.Remove(_folder);
                held.Locks.ForEach(l => l.Dispose());
            }
        }
    }
}
