using System.Text.Json;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Packaging.Tests;

/// <summary>
/// The README's quick-start block, taken from README.md itself, compiled in a new console project against the packed
/// packages (restored from the pack folder, nothing from the network) and run on stories260K.
/// </summary>
[Collection("packages")]
public sealed class QuickStartTests(PackedPackages packed)
{
    private const string Prompt = "Once upon a time";

    [Fact]
    public void The_readme_quick_start_builds_against_the_packages_and_loads_generates_and_prunes()
    {
        string project = Path.Combine(packed.Root, "quick-start");
        string pruned = Path.Combine(packed.Root, "quick-start-pruned");
        ConsoleProject.Write(project, "QuickStart", QuickStart.Extract(TestData.RepoPath("README.md")), packed);

        DotnetProcess.Result build = DotnetProcess.Run(project, TimeSpan.FromMinutes(5), "build", "-nodeReuse:false", "-p:UseSharedCompilation=false");
        Assert.True(build.ExitCode == 0, $"the quick-start did not build: {build}");
        // The Copal assemblies came from the packed packages, restored into this project's own package folder.
        foreach (string id in PackedPackages.Ids)
        {
            Assert.True(Directory.Exists(Path.Combine(project, "packages", id.ToLowerInvariant(), packed.Version)), $"{id} {packed.Version} was not restored from the pack folder");
        }

        DotnetProcess.Result run = DotnetProcess.Run(project, TimeSpan.FromMinutes(5),
            Path.Combine(project, "bin", "Debug", "net10.0", "QuickStart.dll"),
            TestData.Stories260K, TestData.Path("text", "tinystories", "calib.txt"), pruned);
        Assert.True(run.ExitCode == 0, $"the quick-start failed: {run}");
        string[] lines = run.Stdout.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // Greedy text is exact (docs/testing.md): the dense model continues the prompt as the model's author published.
        string dense = Assert.Single(lines, l => l.StartsWith("dense:  ", StringComparison.Ordinal))["dense:  ".Length..];
        string published = File.ReadAllLines(TestData.Path("models", "stories260K", "reference_greedy_t0.txt"))[0];
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", dense, StringComparison.Ordinal);
        Assert.StartsWith(dense, published, StringComparison.Ordinal);

        // The pruned folder is complete, at the sparsity the program printed.
        using JsonDocument report = JsonDocument.Parse(File.ReadAllText(Path.Combine(pruned, "prune-report.json")));
        Assert.Equal(0.5, report.RootElement.GetProperty("total_sparsity").GetDouble());
        Assert.Contains($"pruned: sparsity 0.500, written to {pruned}", lines);

        // The pruned model's text is what that folder generates, and differs from the dense model's.
        string prunedText = Assert.Single(lines, l => l.StartsWith("pruned: " + Prompt, StringComparison.Ordinal))["pruned: ".Length..];
        Assert.Equal(Complete(pruned), prunedText);
        Assert.NotEqual(dense, prunedText);
    }

    /// <summary>An independent run of the same greedy continuation, in this process.</summary>
    private static string Complete(string modelDirectory)
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(modelDirectory, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(modelDirectory);
        GenerationResult result = new Generator(model).Generate(tokenizer.Encode(Prompt), 40, SamplingOptions.Greedy, new HashSet<int>(model.Config.EosTokenIds));
        return Prompt + tokenizer.Decode([.. result.GeneratedIds]);
    }
}
