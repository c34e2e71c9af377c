using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Copal.Testing;

namespace Copal.Packaging.Tests;

/// <summary>What <c>dotnet pack</c> puts in the packages: docs/packaging.md says what each must hold.</summary>
[Collection("packages")]
public sealed partial class PackageContentTests(PackedPackages packed)
{
    public static TheoryData<string> Ids => [.. PackedPackages.Ids];

    [Fact]
    public void Packing_the_solution_makes_exactly_the_three_library_packages_and_their_symbols()
    {
        string[] expected = [.. PackedPackages.Ids.SelectMany(id => new[] { $"{id}.{packed.Version}.nupkg", $"{id}.{packed.Version}.snupkg" }).Order(StringComparer.Ordinal)];
        string[] actual = [.. Directory.EnumerateFiles(packed.Output).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void A_package_holds_its_assembly_xml_docs_readme_and_license(string id)
    {
        IReadOnlyList<string> entries = PackedPackages.Entries(packed.Nupkg(id));
        foreach (string entry in new[] { $"lib/net10.0/{id}.dll", $"lib/net10.0/{id}.xml", "README.md", "LICENSE" })
        {
            Assert.Contains(entry, entries);
        }
        Assert.Contains("<member name=", PackedPackages.ReadEntry(packed.Nupkg(id), $"lib/net10.0/{id}.xml"), StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(TestData.RepoPath("LICENSE")), PackedPackages.ReadEntry(packed.Nupkg(id), "LICENSE"));
        Assert.Contains("Copyright (c) 2026 The Copal authors", File.ReadAllText(TestData.RepoPath("LICENSE")), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_symbol_package_holds_the_portable_pdb(string id)
    {
        Assert.Contains($"lib/net10.0/{id}.pdb", PackedPackages.Entries(packed.Snupkg(id)));
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_nuspec_carries_the_shared_metadata_and_the_projects_description(string id)
    {
        XElement metadata = Nuspec(id);
        Assert.Equal(id, Value(metadata, "id"));
        Assert.Equal(packed.Version, Value(metadata, "version"));
        Assert.Equal("The Copal authors", Value(metadata, "authors"));
        Assert.Equal("Copyright (c) 2026 The Copal authors", Value(metadata, "copyright"));
        XElement license = Child(metadata, "license");
        Assert.Equal(("expression", "MIT"), ((string?)license.Attribute("type"), license.Value));
        Assert.Equal("README.md", Value(metadata, "readme"));
        string description = XDocument.Load(Project(id)).Descendants("Description").Single().Value;
        Assert.Equal(description, Value(metadata, "description"));
        XElement repository = Child(metadata, "repository");
        Assert.Equal("git", (string?)repository.Attribute("type"));
        Assert.Matches(CommitPattern(), (string?)repository.Attribute("commit") ?? "");
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_assembly_carries_the_package_version(string id)
    {
        string dll = Path.Combine(packed.Root, "assemblies", $"{id}.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(dll)!);
        using (ZipArchive zip = ZipFile.OpenRead(packed.Nupkg(id)))
        {
            zip.GetEntry($"lib/net10.0/{id}.dll")!.ExtractToFile(dll, overwrite: true);
        }
        string? product = FileVersionInfo.GetVersionInfo(dll).ProductVersion;
        // The informational version is VERSION+COMMIT (Source Link appends the commit).
        Assert.Equal(packed.Version, product?.Split('+')[0]);
    }

    /// <summary>
    /// Each project reference becomes a dependency on that package at the same version, and each package reference
    /// a dependency at its version in Directory.Packages.props; nothing else.
    /// </summary>
    [Theory]
    [MemberData(nameof(Ids))]
    public void Dependencies_are_the_projects_references_at_their_versions(string id)
    {
        XDocument project = XDocument.Load(Project(id));
        Dictionary<string, string> central = XDocument.Load(TestData.RepoPath("Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!);
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (XElement reference in project.Descendants("ProjectReference"))
        {
            expected[Path.GetFileNameWithoutExtension(((string)reference.Attribute("Include")!).Replace('\\', '/'))] = packed.Version;
        }
        foreach (XElement reference in project.Descendants("PackageReference").Where(r => (string?)r.Attribute("PrivateAssets") != "all"))
        {
            string package = (string)reference.Attribute("Include")!;
            expected[package] = central[package];
        }
        Assert.NotEmpty(expected);

        XElement group = Assert.Single(Child(Nuspec(id), "dependencies").Elements(), e => e.Name.LocalName == "group");
        Assert.Equal("net10.0", (string?)group.Attribute("targetFramework"));
        var actual = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (XElement dependency in group.Elements())
        {
            actual[(string)dependency.Attribute("id")!] = (string)dependency.Attribute("version")!;
        }
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// docs/packaging.md's table names each package's dependencies as its nuspec does: every id, and the version
    /// where one is written ("Id VERSION"; "Id (same version)" for another Copal package).
    /// </summary>
    [Theory]
    [MemberData(nameof(Ids))]
    public void The_dependency_table_of_the_packaging_doc_is_the_nuspec(string id)
    {
        string row = Assert.Single(File.ReadAllLines(TestData.RepoPath("docs", "packaging.md")), l => l.StartsWith($"| {id} |", StringComparison.Ordinal));
        string[] cells = row.Split('|', StringSplitOptions.TrimEntries);
        Assert.Equal(5, cells.Length); // "", package, what it holds, depends on, ""
        var documented = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (string item in cells[3].Split(',', StringSplitOptions.TrimEntries))
        {
            string[] words = item.Split(' ', 2);
            documented[words[0]] = words.Length == 1 ? null : words[1] == "(same version)" ? packed.Version : words[1];
        }
        XElement group = Assert.Single(Child(Nuspec(id), "dependencies").Elements(), e => e.Name.LocalName == "group");
        var actual = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (XElement dependency in group.Elements())
        {
            actual[(string)dependency.Attribute("id")!] = (string)dependency.Attribute("version")!;
        }
        Assert.Equal([.. actual.Keys], [.. documented.Keys]);
        foreach ((string dependency, string? version) in documented)
        {
            Assert.True(version is null || version == actual[dependency], $"docs/packaging.md: {id} depends on {dependency} {actual[dependency]}, not {version}");
        }
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_package_readme_shows_the_tested_quick_start_of_the_repository_readme(string id)
    {
        string block = QuickStart.Extract(TestData.RepoPath("README.md"));
        string packageReadme = PackedPackages.ReadEntry(packed.Nupkg(id), "README.md");
        Assert.Contains("```csharp\n" + block + "```\n", packageReadme.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    private XElement Nuspec(string id) => XDocument.Parse(PackedPackages.ReadEntry(packed.Nupkg(id), $"{id}.nuspec")).Root!.Elements()
        .Single(e => e.Name.LocalName == "metadata");

    private static string Project(string id) => TestData.RepoPath("src", id, $"{id}.csproj");

    private static XElement Child(XElement parent, string name) =>
        parent.Elements().SingleOrDefault(e => e.Name.LocalName == name) ?? throw new Xunit.Sdk.XunitException($"the nuspec has no <{name}>");

    private static string Value(XElement parent, string name) => Child(parent, name).Value;

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}
