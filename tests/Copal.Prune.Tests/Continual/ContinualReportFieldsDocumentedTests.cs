using System.Text.Json;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// Every field of <c>copal continual</c>'s report.json is described in docs/json-outputs.md, as the fields of prune's and
/// perplexity's JSON are (the continual report was left out of that page).
/// </summary>
public sealed class ContinualReportFieldsDocumentedTests
{
    private const string SectionHeading = "## `report.json` and `continual --json`";

    [Fact]
    public void Every_field_of_a_continual_report_is_described_in_the_json_outputs_page()
    {
        string text(string a, string b) => TestData.Path("text", a, b);
        var datasets = ContinualDataset.ParseList($"tiny={text("tinystories", "calib.txt")}:{text("tinystories", "eval.txt")},ptb={text("ptb", "ptb.valid.txt")}:{text("ptb", "ptb.test.txt")}@lines");
        var request = new ContinualRequest(TestData.Stories260K, datasets, ["copal", "magnitude"], new SparsityPattern.Unstructured(0.5), 1, 32, 32, [0UL],
            new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
        string json = JsonSerializer.Serialize(ContinualRunner.Run(request, backend), PruneJob.ReportJsonOptions);

        string section = Section(File.ReadAllText(TestData.RepoPath("docs", "json-outputs.md")));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        using (JsonDocument doc = JsonDocument.Parse(json))
        {
            Collect(doc.RootElement, names);
        }
        Assert.NotEmpty(names);
        // An array of objects is documented as `name[]`, its items' fields after it.
        string[] undocumented = [.. names.Where(n => !section.Contains($"`{n}`", StringComparison.Ordinal) && !section.Contains($"`{n}[]`", StringComparison.Ordinal))];
        Assert.True(undocumented.Length == 0, $"report.json fields not in docs/json-outputs.md's continual section: {string.Join(", ", undocumented)}");
    }

    private static string Section(string page)
    {
        int start = page.IndexOf(SectionHeading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/json-outputs.md has no section '{SectionHeading}'");
        int end = page.IndexOf("\n## ", start + SectionHeading.Length, StringComparison.Ordinal);
        return end < 0 ? page[start..] : page[start..end];
    }

    private static void Collect(JsonElement element, ISet<string> names)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in element.EnumerateObject())
            {
                names.Add(p.Name);
                Collect(p.Value, names);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in element.EnumerateArray())
            {
                Collect(item, names);
            }
        }
    }
}
