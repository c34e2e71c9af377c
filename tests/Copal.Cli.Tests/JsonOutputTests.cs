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

        CopalProcess.Result text = CopalProcess.Run(args);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.DoesNotContain("NaN", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("not measured", text.Stdout, StringComparison.Ordinal);
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
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "obj" or "bin") || Path.GetFileName(file) == "CopalJson.cs")
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
