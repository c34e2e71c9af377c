namespace Copal.Tensors.IO;

/// <summary>
/// A shared lock on an input folder that a writing run reads while it works (the model prune, compact, densify and
/// continual read; synth's tokenizer folder): a run replacing that folder with --force holds it exclusively
/// (<see cref="OutputFolderLock"/>). A compact reads its input's config and weights, then copies its other files after a
/// pass over the weights, and a prune reads the tokenizer and config before the weights: a replacement between would
/// mix two models in the output. The replacing run is refused while this lock is held, and this run while it works.
/// </summary>
internal static class InputFolderLock
{
    /// <summary>
    /// Locks <paramref name="input"/> shared with other readers; null where it is not a folder or cannot be opened (this
    /// user may not list it: read unlocked, as a --resume folder is).
    /// </summary>
    /// <param name="input">The input, as messages name it.</param>
    /// <param name="what">What it is, for messages ("the input folder").</param>
    /// <exception cref="IOException">Another run holds it exclusively: one that replaces it.</exception>
    public static FolderLock? Acquire(string input, string what)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(input);
        ArgumentException.ThrowIfNullOrWhiteSpace(what);
        return AcquireShared(RealPath.Resolve(input), () => new IOException($"{what} '{input}' is in use by another copal run, which replaces it (--force) or writes a state there "
            + "(its lock on the folder ends with it); run again once that run has ended"));
    }

    /// <summary>
    /// Locks <paramref name="folder"/> shared (<see cref="FolderLock.TryAcquireToRead"/>); null where it is not a folder
    /// or cannot be opened: gone since, or one this user may not list, read unlocked then (the reader says what is
    /// missing or unreadable).
    /// </summary>
    /// <param name="folder">The folder's real path (<see cref="RealPath.Resolve(string)"/>): the caller reads what was locked.</param>
    /// <param name="inUse">The error where another run holds it exclusively, worded for the option that named it.</param>
    public static FolderLock? AcquireShared(string folder, Func<IOException> inUse)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(inUse);
        if (!Directory.Exists(folder))
        {
            return null;
        }
        FolderLock? held;
        try
        {
            held = FolderLock.TryAcquireToRead(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return held ?? throw inUse();
    }
}
