using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

// Settling the commit records (CommitRecord) of killed runs.
internal static partial class TemporaryNames
{
    /// <summary>
    /// Settles each commit record in <paramref name="directory"/> whose owning process is gone
    /// (<see cref="CommitRecord.Settle"/>): the renames its output's commit still owed are finished where that output is
    /// in place, and its staged files dropped where it is not. Returns, for each record, its name and what settling it
    /// did, for the run to say so (a record whose renames were all done already, the only silent case, is left out).
    /// Run before <see cref="RemoveStale"/>, which would delete the staged files as stale. Never throws.
    /// </summary>
    public static IReadOnlyList<(string Record, CommitRecord.Settled Settled)> FinishStale(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var settled = new List<(string, CommitRecord.Settled)>();
        foreach ((string entry, Match m) in StaleEntries(directory, ".*.commit-*").OrderBy(e => e.Entry, StringComparer.Ordinal))
        {
            if (m.Groups["kind"].Value != "commit" || !File.Exists(entry))
            {
                continue;
            }
            CommitRecord.Settled done = CommitRecord.Settle(entry);
            if (done.Outcome != CommitRecord.Outcome.Nothing)
            {
                settled.Add((Path.GetFileName(entry), done));
            }
        }
        return settled;
    }

    /// <summary>
    /// The stale commit records in <paramref name="directory"/> that could not be settled, and the staged files they
    /// name: <see cref="RemoveStale"/> leaves them for a later run to settle, since deleting them could leave a
    /// committed output's state half in place.
    /// </summary>
    private static HashSet<string> Unsettled(string directory)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        List<(string Entry, Match Parts)>? all = null;
        foreach ((string entry, Match m) in StaleEntries(directory, ".*.commit-*"))
        {
            if (m.Groups["kind"].Value != "commit")
            {
                continue;
            }
            names.Add(Path.GetFileName(entry));
            if (CommitRecord.StagedNames(entry) is IEnumerable<string> staged)
            {
                names.UnionWith(staged);
            }
            else
            {
                // A record the system refuses to read names no staged file: every temporary of its run stays with it.
                all ??= StaleEntries(directory, ".*");
                names.UnionWith(all.Where(e => e.Parts.Groups["owner"].Value == m.Groups["owner"].Value).Select(e => Path.GetFileName(e.Entry)));
            }
        }
        return names;
    }
}
