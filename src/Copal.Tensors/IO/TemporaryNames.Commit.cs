using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

// Settling the commit records (CommitRecord) of killed runs.
public static partial class TemporaryNames
{
    /// <summary>
    /// Settles each commit record in <paramref name="directory"/> whose owning process is gone
    /// (<see cref="CommitRecord.Settle"/>): the renames its output's commit still owed are finished where that output is
    /// in place, and its staged files dropped where it is not. Returns, for each record finished, the output and the
    /// names put in place. Run before <see cref="RemoveStale"/>, which would delete the staged files as stale. Never throws.
    /// </summary>
    public static IReadOnlyList<(string Output, IReadOnlyList<string> Finished)> FinishStale(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var finished = new List<(string, IReadOnlyList<string>)>();
        foreach ((string entry, Match m) in StaleEntries(directory, ".*.commit-*").OrderBy(e => e.Entry, StringComparer.Ordinal))
        {
            if (m.Groups["kind"].Value != "commit" || !File.Exists(entry))
            {
                continue;
            }
            if (CommitRecord.Settle(entry) is (CommitRecord.Outcome.Finished, string output, IReadOnlyList<string> names))
            {
                finished.Add((output, names));
            }
        }
        return finished;
    }

    /// <summary>
    /// The stale commit records in <paramref name="directory"/> that could not be settled, and the staged files they
    /// name: <see cref="RemoveStale"/> leaves them for a later run to settle, since deleting them could leave a
    /// committed output's state half in place.
    /// </summary>
    private static HashSet<string> Unsettled(string directory)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string entry, Match m) in StaleEntries(directory, ".*.commit-*"))
        {
            if (m.Groups["kind"].Value == "commit")
            {
                names.Add(Path.GetFileName(entry));
                names.UnionWith(CommitRecord.StagedNames(entry));
            }
        }
        return names;
    }
}
