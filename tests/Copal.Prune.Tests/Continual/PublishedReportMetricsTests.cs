using System.Text.Json;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The continual reports published under docs/results are read as evidence (copal.md quotes their metrics), so every
/// metric they print must be what ALGORITHMS.md's formulas give on the R matrices they print beside it: a report left
/// from an older version of a formula, or edited by hand, would otherwise go on being quoted. Each seed's metrics are
/// recomputed from its R (intransigence against its reference variant's R of the same seed), the means over seeds, the
/// paired count of seeds COPAL won, and every reset baseline's precondition verdict.
/// </summary>
public sealed class PublishedReportMetricsTests
{
    public static TheoryData<string> Reports()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(TestData.RepoPath("docs", "results"), "report.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(TestData.RepoRoot, path));
        }
        return data;
    }

    [Fact]
    public void The_results_folder_holds_continual_reports()
        => Assert.True(Reports().Count >= 1, "docs/results holds no report.json: the theory below would check nothing");

    [Theory]
    [MemberData(nameof(Reports))]
    public void Every_printed_metric_is_the_formula_on_the_printed_R(string report)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestData.RepoRoot, report)));
        JsonElement root = doc.RootElement;
        double[] dense = [.. root.GetProperty("datasets").EnumerateArray().Select(d => d.GetProperty("dense_perplexity").GetDouble())];
        var variants = root.GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        // As the report wrote it (a perplexity that overflowed is written as a named literal).
        double[][] R(JsonElement seed) => seed.GetProperty("r").Deserialize<double[][]>(PruneJob.ReportJsonOptions)!;
        var failures = new List<string>();
        void Check(string where, double? expected, JsonElement printed)
        {
            double? actual = printed.ValueKind == JsonValueKind.Null ? null : printed.GetDouble();
            if (expected != actual)
            {
                failures.Add($"{where}: printed {actual?.ToString("R") ?? "null"}, the formula gives {expected?.ToString("R") ?? "null"}");
            }
        }

        foreach ((string name, JsonElement variant) in variants)
        {
            string? reference = variant.GetProperty("intransigence_reference").GetString();
            JsonElement[] seeds = [.. variant.GetProperty("seeds").EnumerateArray()];
            for (int s = 0; s < seeds.Length; s++)
            {
                double[][] r = R(seeds[s]);
                double[][]? joint = reference is null ? null : R(variants[reference].GetProperty("seeds")[s]);
                string at = $"{name}, seed {seeds[s].GetProperty("seed")}";
                Check($"{at}: final_gm_ratio", ContinualMetrics.FinalGmRatio(r, dense), seeds[s].GetProperty("final_gm_ratio"));
                Check($"{at}: aia_gm_ratio", ContinualMetrics.AiaGmRatio(r, dense), seeds[s].GetProperty("aia_gm_ratio"));
                Check($"{at}: forgetting_log", ContinualMetrics.ForgettingLog(r), seeds[s].GetProperty("forgetting_log"));
                Check($"{at}: intransigence_log", ContinualMetrics.IntransigenceLog(r, joint), seeds[s].GetProperty("intransigence_log"));
                Check($"{at}: bwt", ContinualMetrics.Bwt(r), seeds[s].GetProperty("bwt"));
                Check($"{at}: final_average", ContinualMetrics.FinalAverage(r), seeds[s].GetProperty("final_average"));
            }
            foreach (string metric in new[] { "final_gm_ratio", "aia_gm_ratio", "forgetting_log", "intransigence_log", "bwt" })
            {
                double[] values = [.. seeds.Select(x => x.GetProperty(metric)).Where(x => x.ValueKind != JsonValueKind.Null).Select(x => x.GetDouble())];
                Check($"{name}: mean {metric}", values.Length == 0 ? null : values.Average(), variant.GetProperty("mean").GetProperty(metric));
            }
            if (variants.TryGetValue("copal", out JsonElement copal) && name != "copal")
            {
                // Paired: COPAL's final_gm_ratio below this variant's on the same seed; a ratio the other could not form
                // because a final perplexity overflowed counts as infinitely high.
                JsonElement[] copalSeeds = [.. copal.GetProperty("seeds").EnumerateArray()];
                int won = Enumerable.Range(0, seeds.Length).Count(s => copalSeeds[s].GetProperty("final_gm_ratio") is { ValueKind: JsonValueKind.Number } c
                    && (seeds[s].GetProperty("final_gm_ratio") is { ValueKind: JsonValueKind.Number } o
                        ? c.GetDouble() < o.GetDouble()
                        : R(seeds[s])[^1].Any(double.IsPositiveInfinity)));
                Check($"{name}: seeds_copal_lower", won, variant.GetProperty("seeds_copal_lower"));
            }
        }
        foreach (JsonElement p in root.GetProperty("preconditions").EnumerateArray())
        {
            string name = p.GetProperty("variant").GetString()!;
            JsonElement seed = variants[name].GetProperty("seeds").EnumerateArray().Single(x => x.GetProperty("seed").GetUInt64() == p.GetProperty("seed").GetUInt64());
            bool holds = ContinualMetrics.PreconditionFailures(R(seed)).Count == 0;
            if (holds != p.GetProperty("holds").GetBoolean())
            {
                failures.Add($"{name}, seed {p.GetProperty("seed")}: precondition printed {p.GetProperty("holds")}, R gives {holds}");
            }
        }
        Assert.True(failures.Count == 0, $"{report}:\n{string.Join("\n", failures)}");
    }
}
