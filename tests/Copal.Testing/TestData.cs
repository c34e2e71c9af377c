namespace Copal.Testing;

/// <summary>
/// Finds the shared data folder: <c>$COPAL_SHARED_DATA</c> if set, else <c>../shared/data</c> beside the repository
/// root (the folder holding Copal.sln), found by walking up from the test assembly.
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> s_root = new(Locate);

    /// <summary>The shared data folder (it holds models/, text/, tokenizers/).</summary>
    public static string Root => s_root.Value;

    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);

    /// <summary>
    /// The repository root (the folder with Copal.sln): above the test assembly, or above the working folder where the
    /// assemblies were built elsewhere (tools/device-check.sh runs a bundle of them from the repository).
    /// </summary>
    public static string RepoRoot => s_repoRoot.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The real stories260K model folder.</summary>
    public static string Stories260K => Path("models", "stories260K");

    /// <summary>
    /// Copies stories260K's files into <paramref name="folder"/> (made if absent), for a test that changes one of them;
    /// returns the folder.
    /// </summary>
    public static string CopyOfStories260K(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(Stories260K))
        {
            File.Copy(file, System.IO.Path.Combine(folder, System.IO.Path.GetFileName(file)));
        }
        return folder;
    }

    /// <summary>A file under the repository (golden files committed with the tests).</summary>
    public static string RepoPath(params string[] parts) => System.IO.Path.Combine([RepoRoot, .. parts]);

    private static string Locate()
    {
        string? env = Environment.GetEnvironmentVariable("COPAL_SHARED_DATA");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }
        string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepoRoot, "..", "shared", "data"));
        if (!Directory.Exists(candidate))
        {
            throw new DirectoryNotFoundException(
                $"shared data not found at '{candidate}': clone the project beside shared/ or set COPAL_SHARED_DATA");
        }
        return candidate;
    }

    private static string FindRepoRoot() =>
        Above(AppContext.BaseDirectory) ?? Above(Environment.CurrentDirectory)
        ?? throw new DirectoryNotFoundException($"no Copal.sln above '{AppContext.BaseDirectory}' or '{Environment.CurrentDirectory}'");

    private static string? Above(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Copal.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName;
    }
}
