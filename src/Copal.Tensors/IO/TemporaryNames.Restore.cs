using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

// Putting back a previous output that a killed run had moved aside.
internal static partial class TemporaryNames
{
    /// <summary>
    /// Moves each "old" folder in <paramref name="directory"/> whose owning process is gone back to the name it was
    /// moved aside from, where nothing holds that name now, and returns those names. Without a one-step swap
    /// (<see cref="FolderSwap"/>), an output is replaced by two renames; a run killed between them left the previous
    /// output aside and nothing at its name, and that output is still the one the person has: <see cref="RemoveStale"/>,
    /// run after this, would delete it with the unfinished one. An "old" folder whose name holds something is left to
    /// <see cref="RemoveStale"/>: the output at the name is newer. Never throws; one that cannot be moved stays.
    /// </summary>
    public static IReadOnlyList<string> RestoreStale(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var restored = new List<string>();
        foreach ((string entry, Match m) in StaleEntries(directory, ".*.old-*").OrderBy(e => e.Entry, StringComparer.Ordinal))
        {
            if (m.Groups["kind"].Value != "old" || !Directory.Exists(entry) || new DirectoryInfo(entry).LinkTarget is not null)
            {
                continue;
            }
            string name = m.Groups["name"].Value;
            if (IsCut(Path.GetFileName(entry), name))
            {
                continue; // the whole name is not known: left aside, never deleted
            }
            string target = Path.Join(directory, name);
            if (Path.Exists(target) || new FileInfo(target).LinkTarget is not null)
            {
                continue;
            }
            try
            {
                Directory.Move(entry, target);
                restored.Add(name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Taken meanwhile, or not ours to move: it stays aside, and RemoveStale leaves it while its name is free.
            }
        }
        return restored;
    }

    // Whether the name in `hidden` was cut to fit (Hidden): it ends with the mark, and the whole is as long as a name gets.
    private static bool IsCut(string hidden, string name) =>
        name.EndsWith(CutMark) && System.Text.Encoding.UTF8.GetByteCount(hidden) > MaxNameBytes - 4;
}
