namespace Copal.Tensors.IO;

/// <summary>
/// The folders a run makes above an output it writes (<c>-o a/b/out</c> makes a and b), so that a run ending without
/// its output (an error, a cancellation) removes them again instead of leaving empty folders behind.
/// </summary>
internal static class MadeFolders
{
    /// <summary>Creates <paramref name="directory"/> with its missing parents; returns the folders it made, deepest first.</summary>
    public static IReadOnlyList<string> Create(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var made = new List<string>();
        for (string? folder = Path.GetFullPath(directory); folder is not null && !Directory.Exists(folder); folder = Path.GetDirectoryName(folder))
        {
            made.Add(folder);
        }
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch
        {
            RemoveEmpty(made);
            throw;
        }
        if (made.Count > 0)
        {
            s_made.Enqueue(made);
        }
        return made;
    }

    // Every list of folders this process made; most hold an output by the time RemoveOwn runs, or were removed.
    private static readonly System.Collections.Concurrent.ConcurrentQueue<IReadOnlyList<string>> s_made = new();

    /// <summary>
    /// Removes every folder this process made that is empty now: a run stopped at once (a second Ctrl-C or SIGTERM)
    /// calls it after deleting its temporaries (<see cref="TemporaryNames.RemoveOwn"/>), just before the process
    /// ends, so no empty folder of a run without output stays. Never throws.
    /// </summary>
    public static void RemoveOwn()
    {
        foreach (IReadOnlyList<string> made in s_made)
        {
            RemoveEmpty(made);
        }
    }

    /// <summary>
    /// The nearest entry above <paramref name="path"/> that exists, a folder or a file (a file there means no folder can
    /// be made for the path); null when none does.
    /// </summary>
    public static string? NearestExistingAbove(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? above = Path.GetDirectoryName(Path.GetFullPath(path));
        while (above is not null && !Directory.Exists(above) && !File.Exists(above))
        {
            above = Path.GetDirectoryName(above);
        }
        return above;
    }

    /// <summary>Removes each of <paramref name="folders"/> (deepest first) while it is empty; never throws.</summary>
    public static void RemoveEmpty(IEnumerable<string> folders)
    {
        ArgumentNullException.ThrowIfNull(folders);
        foreach (string folder in folders)
        {
            try
            {
                if (!Directory.Exists(folder) || Directory.EnumerateFileSystemEntries(folder).Any())
                {
                    return;
                }
                Directory.Delete(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return;
            }
        }
    }
}
