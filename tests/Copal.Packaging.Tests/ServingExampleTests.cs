using Copal.Model.Serving;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Packaging.Tests;

/// <summary>
/// docs/serving.md's program of the library's serving entry points (the block after its <c>&lt;!-- library-example</c>
/// marker), taken from the page itself, compiled in a new console project against the packed packages and run on
/// stories260K, as a user copying it would. It used a cancellation token it never declared, so it did not compile.
/// </summary>
[Collection("packages")]
public sealed class ServingExampleTests(PackedPackages packed)
{
    [Fact]
    public async Task The_serving_example_builds_against_the_packages_and_prints_what_the_engine_gives()
    {
        string project = Path.Combine(packed.Root, "serving-example");
        ConsoleProject.Write(project, "ServingExample", QuickStart.Extract(TestData.RepoPath("docs", "serving.md"), QuickStart.ServingMarker), packed);

        DotnetProcess.Result build = DotnetProcess.Run(project, TimeSpan.FromMinutes(5), "build", "-nodeReuse:false", "-p:UseSharedCompilation=false");
        Assert.True(build.ExitCode == 0, $"the serving example did not build: {build}");
        DotnetProcess.Result run = DotnetProcess.Run(project, TimeSpan.FromMinutes(5),
            Path.Combine(project, "bin", "Debug", "net10.0", "ServingExample.dll"), TestData.Stories260K);
        Assert.True(run.ExitCode == 0, $"the serving example failed: {run}");
        string[] lines = run.Stdout.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // Greedy text is exact (docs/testing.md): the completion is the engine's own, in this process.
        using IBackend backend = BackendFactory.Create("cpu");
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        CompletionResult expected = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 32, Stop = ["."] });
        Assert.Equal(", there was a little girl named Lily", expected.Text);
        Assert.Contains($"completion: {expected.Text}", lines);
        Assert.Contains("ids 1 403 407 261 378: Once upon a time", lines);
        Assert.Single(lines, l => l.StartsWith("chat: ", StringComparison.Ordinal) && l.Length > "chat: ".Length);
    }
}
