namespace Copal.Tensors.IO;

/// <summary>
/// An output file written under a temporary sibling name and renamed only when complete, with the output's checks
/// made before any work, so a wrong path is found at once and never after minutes of computing.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be written as a file: it is not a folder, its folder exists or is
    /// created now, and a file can be created there (a temporary one is, and deleted: a read-only file system or a
    /// folder without write permission shows now). <paramref name="outputName"/> is how the user gave it ("--out").
    /// </summary>
    public static void Prepare(string path, string outputName)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = RealPath.Resolve(path);
        if (Directory.Exists(full))
        {
            throw new IOException($"{outputName} '{path}' is a folder; expected a file");
        }
        string probe = TemporaryNames.Sibling(full, "tmp");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full) ?? ".");
            File.Create(probe).Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{outputName} '{path}': cannot write there: {AtomicDirectory.Reason(e)}", e);
        }
        // Only a probe that was created is deleted: deleting one that never was could fail in its own words.
        File.Delete(probe);
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> through a temporary file; a failure names the output, not the temporary file.</summary>
    public static void WriteAllText(string path, string outputName, string text)
    {
        Prepare(path, outputName);
        string temp = TemporaryNames.Sibling(path, "tmp");
        try
        {
            File.WriteAllText(temp, text);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{outputName} '{path}': cannot write it: {AtomicDirectory.Reason(e)}", e);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
