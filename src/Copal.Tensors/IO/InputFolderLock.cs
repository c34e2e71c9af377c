namespace Copal.Tensors.IO;

/// <summary>
/// A shared lock on an input folder that a writing run reads while it works (the model prune, compact, densify and
/// continual read; synth's tokenizer folder): a run replacing that folder with --force holds it exclusively
/// (<see cref="OutputFolderLock"/>). A compact reads its input's config and weights, then copies its other files after a
/// pass over the weights, and a prune reads the tokenizer and config before the weights: a replacement between would
/// mix two models in the output. The replacing run is refused while this lock is held, and this run while it works.
/// </summary>
public static class InputFolderLock
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
        string real = RealPath.Resolve(input);
        if (!Directory.Exists(real))
        {
            return null;
        }
        FolderLock? held;
        try
        {
            held = FolderLock.TryAcquireToRead(real);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return held ?? throw new IOException($"{what} '{input}' is in use by another copal run, which replaces it (--force) or writes a state there "
            + "(its lock on the folder ends with it); run again once that run has ended");
    }
}
