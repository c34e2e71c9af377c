using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// JSON outputs hold numbers or null, never the strings "NaN" or "Infinity": a value that cannot be measured is null,
/// with the reason beside it. Structural: every serializer setting comes from one place that writes non-finite as null.
/// </summary>
public sealed class JsonOutputTests
{
    private static IEnumerable<JsonElement> AllValues(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => AllValues(p.Value)).Prepend(e),
        JsonValueKind.Array => e.EnumerateArray().SelectMany(AllValues).Prepend(e),
        _ => [e],
    };

    [Fact]
    public void Bench_on_a_small_model_writes_null_with_a_reason_instead_of_NaN()
    {
        string[] args = ["bench", "-m", TestData.Stories260K, "--device", "cpu", "--repeat", "1", "--prefill", "8", "--decode", "2"];
        CopalProcess.Result json = CopalProcess.Run([.. args, "--json"]);
        Assert.True(json.ExitCode == 0, json.Stderr);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        string[] named = AllValues(doc.RootElement).Where(v => v.ValueKind == JsonValueKind.String)
            .Select(v => v.GetString()!).Where(s => s.Contains("NaN", StringComparison.Ordinal) || s.Contains("Infinity", StringComparison.Ordinal)).ToArray();
        Assert.Empty(named);
        JsonElement root = doc.RootElement;
        Assert.Equal(JsonValueKind.Null, root.GetProperty("mapped_bandwidth_g_bs").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("decode_ratio_mapped").ValueKind);
        Assert.Contains("too small to time", root.GetProperty("not_measured").GetProperty("mapped_bandwidth_g_bs").GetString(), StringComparison.Ordinal);
        // Each figure left out is named by its own key, the ratio's saying what it needed.
        Assert.Equal(["mapped_bandwidth_g_bs", "decode_ratio_mapped"], root.GetProperty("not_measured").EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("needs the mapped checkpoint's bandwidth", root.GetProperty("not_measured").GetProperty("decode_ratio_mapped").GetString(), StringComparison.Ordinal);

        CopalProcess.Result text = CopalProcess.Run(args);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.DoesNotContain("NaN", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("not measured", text.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Every property path of a document (array elements as "[]"), so two documents' field sets compare.</summary>
    private static SortedSet<string> Paths(JsonElement e, string at = "")
    {
        var paths = new SortedSet<string>(StringComparer.Ordinal);
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in e.EnumerateObject())
            {
                paths.Add(at + "." + p.Name);
                paths.UnionWith(Paths(p.Value, at + "." + p.Name));
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in e.EnumerateArray())
            {
                paths.UnionWith(Paths(item, at + "[]"));
            }
        }
        return paths;
    }

    /// <summary>
    /// A value that does not exist is null, not left out: magnitude without --calib has no calibration and no layer
    /// errors, and <c>--json</c> on stdout names the same fields as the prune-report.json it writes.
    /// </summary>
    [Fact]
    public void Prune_json_has_the_fields_of_its_report_file_with_nulls_where_nothing_was_measured()
    {
        string outDir = Path.Combine(Path.GetTempPath(), "copal-json-" + Guid.NewGuid().ToString("N"));
        try
        {
            CopalProcess.Result r = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--json");
            Assert.True(r.ExitCode == 0, r.Stderr);
            using JsonDocument stdout = JsonDocument.Parse(r.Stdout);
            using JsonDocument file = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "prune-report.json")));
            Assert.Equal(Paths(file.RootElement), Paths(stdout.RootElement));
            Assert.Equal(JsonValueKind.Null, file.RootElement.GetProperty("calibration").ValueKind);
            Assert.All(file.RootElement.GetProperty("layers").EnumerateArray(),
                l => Assert.Equal(JsonValueKind.Null, l.GetProperty("output_relative_error").ValueKind));
            Assert.All(file.RootElement.GetProperty("layers").EnumerateArray().SelectMany(l => l.GetProperty("linears").EnumerateArray()),
                l => Assert.Equal(JsonValueKind.Null, l.GetProperty("reconstruction_error").ValueKind));
        }
        finally
        {
            if (Directory.Exists(outDir))
            {
                Directory.Delete(outDir, recursive: true);
            }
        }
    }

    /// <summary>
    /// docs/json-outputs.md lists exactly the fields `generate --json` writes (it said generate's were not covered), and a
    /// run with no decode step writes null for its rate rather than leaving it out or writing NaN.
    /// </summary>
    [Fact]
    public void Generate_json_has_the_fields_json_outputs_md_lists()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-n", "1", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("decode_tokens_per_second").ValueKind);
        string markdown = File.ReadAllText(TestData.RepoPath("docs", "json-outputs.md"));
        Match section = Regex.Match(markdown, @"^## `generate --json`\n(.*?)(?=^## |\z)", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.True(section.Success, "docs/json-outputs.md has no section \"## `generate --json`\"");
        var documented = new SortedSet<string>(Regex.Matches(section.Groups[1].Value, @"^\| `(\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value), StringComparer.Ordinal);
        Assert.Equal(documented, new SortedSet<string>(doc.RootElement.EnumerateObject().Select(p => p.Name), StringComparer.Ordinal));
    }

    [Fact]
    public void Every_serializer_setting_comes_from_the_one_that_writes_non_finite_as_null()
    {
        // Without AllowNamedFloatingPointLiterals System.Text.Json refuses NaN; CopalJson turns it into null. So the
        // only ways to write "NaN" are that flag or settings made elsewhere.
        string src = TestData.RepoPath("src");
        var offenders = new List<string>();
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(src, file);
            // PythonFloatJson writes no output: it turns a chat client's .NET call arguments into a template's input,
            // and refuses a non-finite number (its test: ChatClientToolTests.A_calls_nan_argument_is_refused_naming_it).
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "obj" or "bin") || Path.GetFileName(file) is "CopalJson.cs" or "PythonFloatJson.cs")
            {
                continue;
            }
            string code = File.ReadAllText(file);
            if (code.Contains("AllowNamedFloatingPointLiterals", StringComparison.Ordinal)
                || Regex.IsMatch(code, @"new\s+JsonSerializerOptions\b|JsonSerializerOptions\s+\w+\s*=\s*new\s*\(|JsonSerializerOptions\s*\{\s*get;\s*\}\s*=\s*new\s*\("))
            {
                offenders.Add(rel);
            }
        }
        Assert.Empty(offenders);
    }
}
