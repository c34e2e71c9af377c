using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Copal.Testing;

namespace Copal.Packaging.Tests;

/// <summary>
/// <c>dotnet pack Copal.sln</c> into a temporary folder, once for every test of the "packages" collection. The pack
/// takes the build that this test project's references made (same configuration), so it compiles nothing.
/// </summary>
public sealed class PackedPackages : IDisposable
{
    /// <summary>The projects that are packed, in dependency order.</summary>
    public static IReadOnlyList<string> Ids { get; } = ["Copal.Tensors", "Copal.Model", "Copal.Prune"];

    public PackedPackages()
    {
        Root = Directory.CreateTempSubdirectory("copal-pack-").FullName;
        try
        {
            Output = Path.Combine(Root, "nupkgs");
            Version = VersionPrefix();
            DotnetProcess.Result pack = DotnetProcess.Run(TestData.RepoRoot, TimeSpan.FromMinutes(5),
                "pack", Path.Combine(TestData.RepoRoot, "Copal.sln"), "--no-build", "-c", Configuration, "-o", Output, "-nodeReuse:false");
            if (pack.ExitCode != 0)
            {
                throw new InvalidOperationException($"dotnet pack Copal.sln failed: {pack}");
            }
        }
        catch
        {
            Directory.Delete(Root, recursive: true);
            throw;
        }
    }

    /// <summary>The temporary folder that holds the packages and whatever the tests make; removed at the end.</summary>
    public string Root { get; }

    /// <summary>The folder <c>dotnet pack -o</c> wrote to.</summary>
    public string Output { get; }

    /// <summary>The one version of every package: VersionPrefix in Directory.Build.props.</summary>
    public string Version { get; }

    /// <summary>The build configuration of these tests, which is the one of the packed assemblies.</summary>
    public static string Configuration { get; } = typeof(PackedPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Configuration").Value!;

    public string Nupkg(string id) => Path.Combine(Output, $"{id}.{Version}.nupkg");

    public string Snupkg(string id) => Path.Combine(Output, $"{id}.{Version}.snupkg");

    /// <summary>The text of one file in a package.</summary>
    public static string ReadEntry(string package, string entry)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        ZipArchiveEntry found = zip.GetEntry(entry) ?? throw new FileNotFoundException($"{Path.GetFileName(package)} has no '{entry}'");
        using var reader = new StreamReader(found.Open());
        return reader.ReadToEnd();
    }

    public static IReadOnlyList<string> Entries(string package)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        return [.. zip.Entries.Select(e => e.FullName)];
    }

    private static string VersionPrefix()
    {
        XDocument props = XDocument.Load(TestData.RepoPath("Directory.Build.props"));
        return props.Descendants("VersionPrefix").Single().Value.Trim();
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

[CollectionDefinition("packages")]
public sealed class PackagesCollection : ICollectionFixture<PackedPackages>;
