using System.Globalization;
using System.Text;

namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// Writes report.md: the precondition warning (if any) on the first line, the summary over seeds (the four log-space
/// metrics, the paired count against COPAL, the classic BWT labelled), each seed's numbers, the preconditions, and R
/// for every variant and seed with timing and mask drift.
/// </summary>
internal static class ContinualMarkdown
{
    /// <summary>The Markdown text of report.md for <paramref name="report"/>.</summary>
    public static string Render(ContinualReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var names = report.Datasets.Select(d => d.Name).ToList();
        if (report.PreconditionWarning is string warning)
        {
            sb.AppendLine(ci, $"**{warning}**");
            sb.AppendLine();
        }
        sb.AppendLine(ci, $"# Continual pruning: {Path.GetFileName(report.Model.TrimEnd('/', '\\'))}, {report.Pattern}");
        sb.AppendLine();
        string copal = report.CopalOptions is CopalManifestOptions o
            ? string.Create(ci, $" COPAL: sensitivity {o.Sensitivity}, accumulate {o.Accumulate}, decay {o.Decay}, update {(o.Update ? "on" : "off")}, mask {o.Mask ?? "fixed"}, upstream {report.CopalUpstream}, dense target {o.DenseTarget}.")
            : "";
        sb.AppendLine(ci, $"Datasets in order: {string.Join(" → ", names)}. Calibration {report.NSamples} × {report.SeqLen} tokens per dataset and step; seeds {string.Join(", ", report.Seeds)}; " +
            $"perplexity windows of {report.EvalSeqLen}{(report.EvalLimitChunks is int l ? $", at most {l} per dataset" : "")}. Device: {report.Device}.{copal}");
        sb.AppendLine();
        sb.AppendLine("| dataset | calibration | evaluation | dense ppl |");
        sb.AppendLine("|---|---|---|---|");
        foreach (ContinualDatasetReport d in report.Datasets)
        {
            sb.AppendLine(ci, $"| {d.Name} | {d.Calibration} ({d.CalibrationTokens:N0} tokens) | {d.Evaluation} ({d.EvaluationTokens:N0} tokens) | {d.DensePerplexity:F2} |");
        }
        sb.AppendLine();
        sb.AppendLine(ci, $"## Summary (mean over {report.Seeds.Count} seed{(report.Seeds.Count == 1 ? "" : "s")})");
        sb.AppendLine();
        sb.AppendLine("| variant | final_gm_ratio | aia_gm_ratio | forgetting_log | intransigence_log | seeds COPAL lower | classic BWT (ppl) |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (VariantReport v in report.Variants)
        {
            string lower = v.SeedsCopalLower is int k ? $"{k}/{v.Seeds.Count}" : "–";
            sb.AppendLine(ci, $"| {v.Name}{(v.Method == "magnitude" ? " (reference)" : "")} | {F(v.Mean.FinalGmRatio, "F4")} | {F(v.Mean.AiaGmRatio, "F4")} | {SignedFixed.Format(v.Mean.ForgettingLog, 4)} | {SignedFixed.Format(v.Mean.IntransigenceLog, 4)} | {lower} | {SignedFixed.Format(v.Mean.Bwt, 2)} |");
        }
        sb.AppendLine();
        sb.AppendLine(report.Metrics);
        sb.AppendLine();
        sb.AppendLine(report.BwtConvention);
        sb.AppendLine();
        sb.AppendLine(report.Joint);
        sb.AppendLine();
        sb.AppendLine("## Per seed: final_gm_ratio (aia_gm_ratio)");
        sb.AppendLine();
        sb.AppendLine(ci, $"| variant | {string.Join(" | ", report.Seeds.Select(s => $"seed {s}"))} |");
        sb.AppendLine(ci, $"|---|{string.Concat(report.Seeds.Select(_ => "---|"))}");
        foreach (VariantReport v in report.Variants)
        {
            sb.AppendLine(ci, $"| {v.Name} | {string.Join(" | ", v.Seeds.Select(s => $"{F(s.FinalGmRatio, "F4")} ({F(s.AiaGmRatio, "F4")})"))} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Precondition");
        sb.AppendLine();
        if (report.Preconditions.Count == 0)
        {
            sb.AppendLine("No data-dependent reset baseline ran, so the precondition was not checked.");
        }
        else
        {
            sb.AppendLine("For each data-dependent reset baseline: did calibrating on D_i improve D_i over calibrating on D_1 (R_reset[i,i] < R_reset[1,i], every i > 1)?");
            sb.AppendLine();
            sb.AppendLine("| variant | seed | holds | failed on |");
            sb.AppendLine("|---|---|---|---|");
            foreach (PreconditionReport p in report.Preconditions)
            {
                sb.AppendLine(ci, $"| {p.Variant} | {p.Seed} | {(p.Holds ? "yes" : "**no**")} | {(p.Failed.Count == 0 ? "–" : string.Join(", ", p.Failed))} |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("## R[t, i]: perplexity on dataset i after step t");
        sb.AppendLine();
        sb.AppendLine("Mask change: the fraction of prunable weights whose zero/non-zero status changed from the previous step; 0 means the mask froze (weight stasis). " +
            "Prune seconds are 0 where the step's model was shared with another variant (same method, input and calibration windows); eval seconds are 0 there too and where the pruned weights equal an already evaluated model's (a frozen cumulative step).");
        foreach (VariantReport v in report.Variants)
        {
            foreach (SeedRun s in v.Seeds)
            {
                sb.AppendLine();
                sb.AppendLine(ci, $"### {v.Name}, seed {s.Seed}");
                sb.AppendLine();
                sb.AppendLine(ci, $"| after step | {string.Join(" | ", names)} | mask change | prune s | eval s |");
                sb.AppendLine(ci, $"|---|{string.Concat(names.Select(_ => "---|"))}---|---|---|");
                for (int t = 0; t < s.R.Length; t++)
                {
                    sb.AppendLine(ci, $"| {t + 1} ({names[t]}) | {string.Join(" | ", s.R[t].Select(x => x.ToString("F2", ci)))} | {F(s.MaskChange[t], "P1")} | {s.PruneSeconds[t]:F1} | {s.EvalSeconds[t]:F1} |");
                }
                sb.AppendLine();
                sb.AppendLine(ci, $"final_gm_ratio {F(s.FinalGmRatio, "F4")}, aia_gm_ratio {F(s.AiaGmRatio, "F4")}, forgetting_log {SignedFixed.Format(s.ForgettingLog, 4)}, " +
                    $"intransigence_log {SignedFixed.Format(s.IntransigenceLog, 4)}{(v.IntransigenceReference is string r ? $" (vs {r})" : "")}, classic BWT {SignedFixed.Format(s.Bwt, 2)}, final avg ppl {F(s.FinalAverage, "F2")}.");
            }
        }
        sb.AppendLine();
        sb.AppendLine(ci, $"Total {report.Seconds:F0} s; peak working set {report.PeakWorkingSetBytes / 1048576.0:F0} MiB.");
        return sb.ToString();
    }

    private static string F(double? value, string format) => value is double d && double.IsFinite(d) ? d.ToString(format, CultureInfo.InvariantCulture) : "–";
}
