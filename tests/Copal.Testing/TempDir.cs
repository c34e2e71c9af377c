namespace Copal.Testing;

/// <summary>
/// A fresh folder of the test's own under the system temp folder, its name starting with a prefix that says which
/// test made it (so a leftover names its test), deleted with everything in it on dispose.
/// </summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix)
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    /// <summary>The folder.</summary>
    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> in the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
