using System.Diagnostics;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// `copal generate ... | head` stops once nobody reads its text (docs/cli.md): .NET ignores SIGPIPE and its console drops
/// the writes that fail, so generate went on to -n for nobody, which on a large model is minutes of work.
/// </summary>
public sealed partial class ClosedOutputTests : IDisposable
{
    private readonly TempDir _temp = new("copal-pipe-");

    public void Dispose() => _temp.Dispose();

    [LinuxFact]
    public void Generate_stops_with_141_when_the_reader_of_its_output_exits()
    {
        // A context far longer than a test may wait for: only a stop at the closed pipe ends the run in time.
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, ContextField().Replace(File.ReadAllText(config), "\"max_position_embeddings\": 2000000"));
        string head = _temp.File("head.txt");
        // `timeout` only bounds a run that never stops (124, a failure); the exit code of copal itself is printed.
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestData.RepoRoot,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("timeout 120 dotnet \"$1\" generate -m \"$2\" -n 1999000 --device cpu | head -c 16 > \"$3\"; echo \"${PIPESTATUS[0]}\"");
        psi.ArgumentList.Add("bash");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        psi.ArgumentList.Add(model);
        psi.ArgumentList.Add(head);
        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string status = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        Assert.True(status == "141", $"exit {status}: {stderr.Result}");
        Assert.Equal("Once upon a time", File.ReadAllText(head));
        Assert.EndsWith("copal: standard output was closed (its reader exited); stopping...\ncopal: cancelled\n", stderr.Result, StringComparison.Ordinal);
    }

    [GeneratedRegex("\"max_position_embeddings\": *512")]
    private static partial Regex ContextField();
}
