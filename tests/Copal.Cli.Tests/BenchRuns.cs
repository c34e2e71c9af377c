using System.Collections.Concurrent;
using System.Text.Json;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// One short <c>copal bench --json</c> run of stories260K per device, shared by the tests that read it (each run is a
/// process that loads the model and compiles kernels, so it is made once).
/// </summary>
internal static class BenchRuns
{
    private static readonly ConcurrentDictionary<string, Lazy<JsonElement>> s_runs = new();

    public static JsonElement Json(string device) => s_runs.GetOrAdd(device, d => new Lazy<JsonElement>(() => Run(d))).Value;

    private static JsonElement Run(string device)
    {
        CopalProcess.Result run = CopalProcess.Run(["bench", "-m", TestData.Stories260K, "--device", device, "--repeat", "1", "--prefill", "8", "--decode", "3", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using JsonDocument doc = JsonDocument.Parse(run.Stdout);
        return doc.RootElement.Clone();
    }
}
