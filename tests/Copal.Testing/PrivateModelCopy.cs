namespace Copal.Testing;

/// <summary>
/// A copy of stories260K under a folder name of its own, so that a mapping of its weights file in /proc/self/maps is
/// the test's alone (other tests, run in parallel, map the shared copy). Deleted when disposed.
/// </summary>
public sealed class PrivateModelCopy : IDisposable
{
    public PrivateModelCopy(string prefix)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
        foreach (string name in new[] { "config.json", "model.safetensors", "tokenizer.json" })
        {
            File.Copy(Path.Combine(TestData.Stories260K, name), Path.Combine(Directory, name));
        }
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>Whether this process maps the copy's weights file now (Linux).</summary>
    public bool IsMapped() =>
        File.ReadLines("/proc/self/maps").Any(line => line.EndsWith(Path.Combine(Directory, "model.safetensors"), StringComparison.Ordinal));

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
