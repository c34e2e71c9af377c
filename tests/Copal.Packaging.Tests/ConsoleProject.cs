using Copal.Testing;

namespace Copal.Packaging.Tests;

/// <summary>A new console project that references the packed packages only, as a user's program would.</summary>
internal static class ConsoleProject
{
    /// <summary>
    /// A console project <paramref name="name"/> of <paramref name="program"/> whose only Copal reference is the
    /// Copal.Prune package of the pack folder. Its own package folder keeps a package of the same version from an
    /// earlier pack out of the way; the other packages it needs (ILGPU, System.Numerics.Tensors) come from the
    /// machine's NuGet folder, where restoring this repository put them.
    /// </summary>
    public static void Write(string project, string name, string program, PackedPackages packed)
    {
        Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "Program.cs"), program);
        // Nothing from folders above (a Directory.Build.props in the temp folder's parents) takes part.
        File.WriteAllText(Path.Combine(project, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(project, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(project, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Copal.Prune" Version="{packed.Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(project, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(project, "packages")}" />
              </config>
              <packageSources>
                <clear />
                <add key="copal-pack" value="{packed.Output}" />
              </packageSources>
              <fallbackPackageFolders>
                <clear />
                <add key="machine" value="{MachinePackageFolder()}" />
              </fallbackPackageFolders>
            </configuration>
            """);
    }

    /// <summary>The NuGet global packages folder of this machine, as NuGet itself reports it.</summary>
    private static string MachinePackageFolder()
    {
        DotnetProcess.Result locals = DotnetProcess.Run(TestData.RepoRoot, TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
        const string Prefix = "global-packages: ";
        string? line = locals.Stdout.ReplaceLineEndings("\n").Split('\n').FirstOrDefault(l => l.StartsWith(Prefix, StringComparison.Ordinal));
        Assert.True(locals.ExitCode == 0 && line is not null, $"dotnet nuget locals global-packages --list: {locals}");
        return line[Prefix.Length..].Trim();
    }
}
