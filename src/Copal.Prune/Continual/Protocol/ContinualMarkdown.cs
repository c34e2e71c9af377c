using System.Globalization;
using System.Text;

namespace Copal.Prune.Continual.Protocol;

/// <summary>Writes report.md: the summary table (final average, BWT), R for every variant, timing and mask drift.</summary>
public static class ContinualMarkdown
{
    public static string Render(ContinualReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var names = report.Datasets.Select(d => d.Name).ToList();
        sb.AppendLine(ci, $"# Continual pruning: {Path.GetFileName(report.Model.TrimEnd('/', '\\'))}, {report.Pattern}");
        sb.AppendLine();
        sb.AppendLine(ci, $"Datasets in order: {string.Join(" → ", names)}. Calibration {report.NSamples} × {report.SeqLen} tokens per dataset and step (seed {report.Seed}); " +
            $"perplexity windows of {report.EvalSeqLen}{(report.EvalLimitChunks is int l ? $", at most {l} per dataset" : "")}. Device: {report.Device}. " +
            $"COPAL: sensitivity {report.CopalOptions.Sensitivity}, accumulate {report.CopalOptions.Accumulate}, decay {report.CopalOptions.Decay.ToString(ci)}, update {(report.CopalOptions.Update ? "on" : "off")}, mask {report.CopalOptions.Mask ?? "fixed"}.");
        sb.AppendLine();
        sb.AppendLine("| dataset | calibration | evaluation | dense ppl |");
        sb.AppendLine("|---|---|---|---|");
        foreach (ContinualDatasetReport d in report.Datasets)
        {
            sb.AppendLine(ci, $"| {d.Name} | {d.Calibration} ({d.CalibrationTokens:N0} tokens) | {d.Evaluation} ({d.EvaluationTokens:N0} tokens) | {d.DensePerplexity:F2} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Summary");
        sb.AppendLine();
        sb.AppendLine(ci, $"| variant | final avg ppl | BWT | {string.Join(" | ", names.Select(n => $"final {n}"))} | mask change per step | prune s/step | eval s/step |");
        sb.AppendLine(ci, $"|---|---|---|{string.Concat(names.Select(_ => "---|"))}---|---|---|");
        foreach (VariantReport v in report.Variants)
        {
            string drift = string.Join(", ", v.MaskChange.Skip(1).Select(x => x is double d ? d.ToString("P1", ci) : "–"));
            sb.AppendLine(ci, $"| {v.Name} | {v.FinalAverage:F2} | {(v.Bwt is double b ? b.ToString("+0.00;-0.00", ci) : "–")} | {string.Join(" | ", v.R[^1].Select(x => x.ToString("F2", ci)))} | {(drift.Length == 0 ? "–" : drift)} | {v.PruneSeconds.Average():F1} | {v.EvalSeconds.Average():F1} |");
        }
        sb.AppendLine();
        sb.AppendLine(report.BwtConvention);
        sb.AppendLine();
        sb.AppendLine(report.Joint);
        sb.AppendLine();
        sb.AppendLine("Mask change: the fraction of prunable weights whose zero/non-zero status changed from the previous step; 0 means the mask froze (weight stasis).");
        sb.AppendLine();
        sb.AppendLine("## R[t, i]: perplexity on dataset i after step t");
        foreach (VariantReport v in report.Variants)
        {
            sb.AppendLine();
            sb.AppendLine(ci, $"### {v.Name}");
            sb.AppendLine();
            sb.AppendLine(ci, $"| after step | {string.Join(" | ", names)} |");
            sb.AppendLine(ci, $"|---|{string.Concat(names.Select(_ => "---|"))}");
            for (int t = 0; t < v.R.Length; t++)
            {
                sb.AppendLine(ci, $"| {t + 1} ({names[t]}) | {string.Join(" | ", v.R[t].Select(x => x.ToString("F2", ci)))} |");
            }
        }
        sb.AppendLine();
        sb.AppendLine(ci, $"Total {report.Seconds:F0} s; peak working set {report.PeakWorkingSetBytes / 1048576.0:F0} MiB.");
        return sb.ToString();
    }
}
