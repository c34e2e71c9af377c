using Copal.Tensors.IO;

namespace Copal.Prune.Continual;

/// <summary>
/// Files written under temporary names beside where they belong, renamed into place together by <see cref="Commit"/>;
/// disposing uncommitted ones deletes them, so the previous files stay as they were.
/// </summary>
internal sealed class StagedFiles : IDisposable
{
    private readonly string[] _final;
    private bool _committed;

    // The record that ties these renames to another output's commit (Follow), deleted once they are done.
    private string? _record;

    // The folders made for the files (MadeFolders), removed again if they are not committed.
    private readonly IReadOnlyList<string> _madeFolders;

    /// <summary>
    /// Temporary names (<see cref="TemporaryNames.Sibling"/>) for <paramref name="finalPaths"/>, in the same order, in
    /// folders of which <paramref name="madeFolders"/> were made for them.
    /// </summary>
    internal StagedFiles(string[] finalPaths, IReadOnlyList<string> madeFolders)
    {
        _final = finalPaths;
        _madeFolders = madeFolders;
        Temporary = [.. finalPaths.Select(p => TemporaryNames.Sibling(p, "tmp"))];
    }

    /// <summary>Where each file is written until it is committed.</summary>
    internal IReadOnlyList<string> Temporary { get; }

    /// <summary>
    /// Makes these renames part of another output's commit: the files they follow are renamed into place after it,
    /// and <paramref name="outputTwin"/>, a file of that output once it is in place, holds the same bytes as the last
    /// one. Flushes the files and writes the record (<see cref="CommitRecord"/>) by which a run that finds them after
    /// this process was killed finishes the renames, where the output is in place, or drops the files, where it is not.
    /// Call it before that output is renamed into place; the files must all be in one folder.
    /// </summary>
    public void Follow(string outputTwin)
    {
        foreach (string temp in Temporary)
        {
            Durable.FlushFile(temp);
        }
        _record = CommitRecord.Write([.. Temporary.Zip(_final)], outputTwin);
    }

    /// <summary>
    /// Renames every file into place, replacing what was there: each flushed to the disk first, and the renames after
    /// (<see cref="Durable"/>), so that a power cut leaves the old files or the new ones.
    /// </summary>
    public void Commit()
    {
        if (_committed)
        {
            throw new InvalidOperationException("the staged files were committed already");
        }
        foreach (string temp in Temporary)
        {
            Durable.FlushFile(temp);
        }
        for (int i = 0; i < _final.Length; i++)
        {
            File.Move(Temporary[i], _final[i], overwrite: true);
        }
        _committed = true;
        foreach (string folder in _final.Select(f => Path.GetDirectoryName(Path.GetFullPath(f)) ?? ".").Distinct())
        {
            Durable.FlushFolder(folder);
        }
        if (_record is not null)
        {
            CommitRecord.Delete(_record);
        }
    }

    /// <summary>
    /// Deletes the files not renamed into place, and the folders made for them; files that follow an output
    /// (<see cref="Follow"/>) which is in place are renamed into place instead, as the next run would. Never throws: it
    /// runs while an error unwinds.
    /// </summary>
    public void Dispose()
    {
        if (_committed)
        {
            return;
        }
        if (_record is not null && CommitRecord.Settle(_record).Outcome != CommitRecord.Outcome.Dropped)
        {
            // Finished (the output is in place), or left with its record for the next run to settle.
            return;
        }
        foreach (string temp in Temporary)
        {
            TemporaryNames.DeleteQuietly(temp);
        }
        MadeFolders.RemoveEmpty(_madeFolders);
    }
}
