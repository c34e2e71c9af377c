using System.Text.Json;

namespace Copal.Tensors.IO;

/// <summary>
/// Files staged under temporary names in one folder whose renames into place belong to another output's commit: prune's
/// copy of the COPAL state in --state, which may take its place only once the pruned model's folder, holding the same
/// state, has taken its. A process killed between that folder's rename and these renames (or between two of them) cannot
/// finish them. So before the output's rename a record is written beside the staged files, <c>.NAME.commit-PID-START-NS-MACHINE-BOOT-N</c>
/// (<see cref="TemporaryNames"/>), naming the renames and the output's file that is identical to the last staged one,
/// its twin. Whoever finds the record of a run that is gone (<see cref="TemporaryNames.FinishStale"/>), or the run itself
/// when it fails or is stopped at once, decides by the output: where it holds the twin (or a rename was done, which only
/// follows the output's), the output was committed and the renames are finished; where not, the staged files are dropped. The twin is renamed last, so while it is still staged
/// the decision can be made on it; once it is in place every rename is done and only the record is left to delete.
/// </summary>
/// <remarks>
/// The record is JSON: <c>{"output": "/abs/out/copal-state.json", "output_relative": "../out/copal-state.json",
/// "renames": [["staged name", "final name"], ...]}</c>, names within the record's folder. The output is looked for at
/// both paths: a run on another machine that shares the folder may reach it by another path (the share mounted
/// elsewhere), and the twin's bytes (a manifest stamped with its save time) tell the right file from any other. One that cannot be read whole was being written when the run was killed, before
/// the output's rename: its staged files are dropped.
/// </remarks>
internal static class CommitRecord
{
    // Every record this process wrote; a run stopped at once settles those still there (TemporaryNames.RemoveOwn).
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> s_own = new();

    /// <summary>What settling a record did.</summary>
    public enum Outcome
    {
        /// <summary>The output holds the twin: the staged files are in place now.</summary>
        Finished,

        /// <summary>The output does not hold the twin (it was never put in place): the staged files are deleted.</summary>
        Dropped,

        /// <summary>Every rename was done already: only the record was left, and it is deleted.</summary>
        Nothing,

        /// <summary>The record could not be settled now (a read, a rename or a delete refused): it stays, with its staged files, for a later run.</summary>
        Left,
    }

    /// <summary>
    /// What <see cref="Settle"/> did: its <paramref name="Outcome"/>, the output the record names (null where the record
    /// was cut short), the final names put in place, and why it was <see cref="Outcome.Left"/>.
    /// </summary>
    public readonly record struct Settled(Outcome Outcome, string? Output, IReadOnlyList<string> Finished, string? Problem = null);

    /// <summary>
    /// Writes and flushes (with its folder) the record for <paramref name="renames"/>, staged and final paths in one
    /// folder, the last one the twin of <paramref name="outputTwin"/>; returns its path. Call it once the staged files
    /// are flushed and before the output is renamed into place. A failure to write it (a full disk) deletes what was
    /// written of it before it throws.
    /// </summary>
    public static string Write(IReadOnlyList<(string Staged, string Final)> renames, string outputTwin)
    {
        ArgumentNullException.ThrowIfNull(renames);
        ArgumentException.ThrowIfNullOrEmpty(outputTwin);
        if (renames.Count == 0)
        {
            throw new ArgumentException("a commit record needs at least one rename", nameof(renames));
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(renames[^1].Final))!;
        if (renames.Any(r => Path.GetDirectoryName(Path.GetFullPath(r.Staged)) != folder || Path.GetDirectoryName(Path.GetFullPath(r.Final)) != folder))
        {
            throw new ArgumentException("a commit record's renames are all within one folder", nameof(renames));
        }
        // From the folder's real path, as the next run finds the record (through a linked --state, the link's own
        // folder is another place).
        string relative = Path.GetRelativePath(RealPath.Resolve(folder), Path.GetFullPath(outputTwin));
        string record = TemporaryNames.Sibling(renames[^1].Final, "commit");
        // Known before it exists: a second signal while it is written settles it, as one cut short, by deleting it.
        s_own.Enqueue(record);
        try
        {
            using (var stream = new FileStream(record, FileMode.CreateNew, FileAccess.Write))
            using (var json = new Utf8JsonWriter(stream))
            {
                json.WriteStartObject();
                json.WriteString("output", Path.GetFullPath(outputTwin));
                json.WriteString("output_relative", relative);
                json.WriteStartArray("renames");
                foreach ((string staged, string final) in renames)
                {
                    json.WriteStartArray();
                    json.WriteStringValue(Path.GetFileName(staged));
                    json.WriteStringValue(Path.GetFileName(final));
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            Durable.FlushFile(record);
            Durable.FlushFolder(folder);
        }
        catch
        {
            // A full disk cuts it short: no rename of this commit has begun, so the record is only a leftover.
            TemporaryNames.DeleteQuietly(record);
            throw;
        }
        return record;
    }

    /// <summary>Deletes the record of renames that are all done. Never throws: a leftover is settled as done by the next run.</summary>
    public static void Delete(string record) => TemporaryNames.DeleteQuietly(record);

    /// <summary>
    /// Settles the record at <paramref name="record"/>: finishes its renames where its output holds the twin, else deletes
    /// its staged files; the record is deleted either way. Returns what it did with the output's path and the final
    /// names put in place. Never throws: a record that cannot be settled now (a rename or a read refused) stays
    /// (<see cref="Outcome.Left"/>, with the system's reason).
    /// </summary>
    public static Settled Settle(string record)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(record))!;
        (string Output, string? Relative, List<(string Staged, string Final)> Renames)? read;
        try
        {
            read = Read(record);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Refused (EIO on a network mount, a mode this run may not read): that says nothing of how it was written.
            return new(Outcome.Left, null, [], e.Message);
        }
        if (read is not (string output, var relative, List<(string Staged, string Final)> renames))
        {
            // Cut short while it was written: before the output's rename, so nothing of this commit is in place.
            TemporaryNames.DeleteQuietly(record);
            return new(Outcome.Dropped, null, []);
        }
        string twin = Path.Join(folder, renames[^1].Staged);
        try
        {
            if (!File.Exists(twin))
            {
                // The twin is renamed last: every rename is done.
                TemporaryNames.DeleteQuietly(record);
                return new(Outcome.Nothing, output, []);
            }
            // The renames start only once the output is in place: one done means it was, whatever it holds now (a later
            // run may have written over it before a run looked here), and dropping the rest would leave a new file
            // beside an old twin. Only where none is done does the output decide.
            bool started = renames.SkipLast(1).Any(r => !File.Exists(Path.Join(folder, r.Staged)));
            if (!started && !SameBytes(output, twin) && (relative is null || !SameBytes(Path.GetFullPath(Path.Join(RealPath.Resolve(folder), relative)), twin)))
            {
                // The record first: a kill now leaves plain stale temporaries, never a record over half of them.
                File.Delete(record);
                foreach ((string staged, _) in renames)
                {
                    TemporaryNames.DeleteQuietly(Path.Join(folder, staged));
                }
                return new(Outcome.Dropped, output, []);
            }
            var finished = new List<string>();
            foreach ((string staged, string final) in renames)
            {
                string from = Path.Join(folder, staged);
                if (File.Exists(from))
                {
                    File.Move(from, Path.Join(folder, final), overwrite: true);
                }
                finished.Add(final);
            }
            Durable.FlushFolder(folder);
            TemporaryNames.DeleteQuietly(record);
            return new(Outcome.Finished, output, finished);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(Outcome.Left, output, [], e.Message);
        }
    }

    /// <summary>Settles every record this process wrote that is still there: a run stopped at once calls it before it deletes its temporaries.</summary>
    internal static void SettleOwn()
    {
        foreach (string record in s_own)
        {
            if (File.Exists(record))
            {
                Settle(record);
            }
        }
    }

    /// <summary>
    /// The staged names a record lists (none if it was cut short): what the sweep leaves for the record's settling; null
    /// where the system refuses to read it, which says nothing of the names it holds.
    /// </summary>
    internal static IEnumerable<string>? StagedNames(string record)
    {
        try
        {
            return Read(record) is (_, _, List<(string Staged, string Final)> renames) ? renames.Select(r => r.Staged) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // The record's output and renames; null where it was cut short or is not a record. A read the system refuses throws.
    private static (string Output, string? Relative, List<(string Staged, string Final)> Renames)? Read(string record)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(record));
            JsonElement root = doc.RootElement;
            string output = root.GetProperty("output").GetString() ?? throw new FormatException("no output");
            string? relative = root.TryGetProperty("output_relative", out JsonElement r) ? r.GetString() : null;
            var renames = new List<(string, string)>();
            foreach (JsonElement pair in root.GetProperty("renames").EnumerateArray())
            {
                string staged = pair[0].GetString()!;
                string final = pair[1].GetString()!;
                // Names within the folder only: a record is never a way to move files elsewhere.
                if (staged != Path.GetFileName(staged) || final != Path.GetFileName(final) || staged.Length == 0 || final.Length == 0)
                {
                    return null;
                }
                renames.Add((staged, final));
            }
            return renames.Count > 0 && Path.IsPathFullyQualified(output) ? (output, relative, renames) : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException
            or FormatException)
        {
            return null;
        }
    }

    // Whether the files hold the same bytes; false where the first is missing. A read refused throws (the record stays).
    private static bool SameBytes(string first, string second)
    {
        if (!File.Exists(first) || new FileInfo(first).Length != new FileInfo(second).Length)
        {
            return false;
        }
        using var a = new FileStream(first, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var b = new FileStream(second, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        byte[] x = new byte[1 << 16];
        byte[] y = new byte[1 << 16];
        while (true)
        {
            int n = a.ReadAtLeast(x, x.Length, throwOnEndOfStream: false);
            int m = b.ReadAtLeast(y, y.Length, throwOnEndOfStream: false);
            if (n != m || !x.AsSpan(0, n).SequenceEqual(y.AsSpan(0, m)))
            {
                return false;
            }
            if (n == 0)
            {
                return true;
            }
        }
    }
}
