namespace Copal.Tensors.IO;

/// <summary>
/// Builds an output folder under a temporary sibling name and moves it into place only when complete, so an error
/// or Ctrl-C never leaves a half-written model behind. Dispose without <see cref="Commit"/> deletes the temporary folder.
/// </summary>
public sealed class AtomicDirectory : IDisposable
{
    private bool _committed;

    private AtomicDirectory(string finalPath, string tempPath, bool replace)
    {
        FinalPath = finalPath;
        TempPath = tempPath;
        Replace = replace;
    }

    /// <summary>Where the folder will be once committed.</summary>
    public string FinalPath { get; }
    /// <summary>Where files are written until then.</summary>
    public string TempPath { get; }
    private bool Replace { get; }

    /// <summary>
    /// Starts an output folder at <paramref name="path"/>. It must not exist, or be empty, unless
    /// <paramref name="overwrite"/>; it must not be one of <paramref name="protectedInputs"/> (the inputs are never touched).
    /// </summary>
    public static AtomicDirectory Create(string path, bool overwrite, params string[] protectedInputs)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        foreach (string input in protectedInputs)
        {
            string inputFull = Path.GetFullPath(input).TrimEnd(Path.DirectorySeparatorChar);
            if (string.Equals(full, inputFull, StringComparison.Ordinal)
                || inputFull.StartsWith(full + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new IOException($"--out '{path}' is the input folder '{input}' (or contains it); choose another output folder — inputs are never modified");
            }
        }
        bool exists = Directory.Exists(full);
        if (System.IO.File.Exists(full))
        {
            throw new IOException($"--out '{path}' is an existing file, not a folder");
        }
        if (exists && Directory.EnumerateFileSystemEntries(full).Any() && !overwrite)
        {
            throw new IOException($"--out '{path}' exists and is not empty; pass --force to replace it");
        }
        string parent = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}"[..^24]);
        Directory.CreateDirectory(temp);
        return new AtomicDirectory(full, temp, exists);
    }

    /// <summary>A path inside the temporary folder.</summary>
    public string File(string name) => Path.Combine(TempPath, name);

    /// <summary>Moves the finished folder into place (replacing an old one that --force allowed).</summary>
    public void Commit()
    {
        if (Replace && Directory.Exists(FinalPath))
        {
            string old = FinalPath + $".old-{Guid.NewGuid():N}"[..12];
            Directory.Move(FinalPath, old);
            Directory.Move(TempPath, FinalPath);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(TempPath, FinalPath);
        }
        _committed = true;
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(TempPath))
        {
            try
            {
                Directory.Delete(TempPath, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover hidden temp folder is harmless and named as such.
            }
        }
    }
}
