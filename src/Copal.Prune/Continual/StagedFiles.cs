using Copal.Tensors.IO;

namespace Copal.Prune.Continual;

/// <summary>
/// Files written under temporary names beside where they belong, renamed into place together by <see cref="Commit"/>;
/// disposing uncommitted ones deletes them, so the previous files stay as they were.
/// </summary>
public sealed class StagedFiles : IDisposable
{
    private readonly string[] _final;
    private bool _committed;

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
    }

    /// <summary>Deletes the files not renamed into place, and the folders made for them. Never throws: it runs while an error unwinds.</summary>
    public void Dispose()
    {
        if (_committed)
        {
            return;
        }
        foreach (string temp in Temporary)
        {
            TemporaryNames.DeleteQuietly(temp);
        }
        MadeFolders.RemoveEmpty(_madeFolders);
    }
}
