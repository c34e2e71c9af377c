using System.Globalization;
using System.Net;
using System.Text;
using Copal.Tensors;

namespace Copal.Prune.Continual.Protocol;

/// <summary>Hand-written SVG figures of a continual report: perplexity per dataset across steps, and heatmaps of R.</summary>
internal static class ContinualSvg
{
    private static readonly string[] s_palette =
        ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    /// <summary>One panel per dataset: ppl (log scale) after each step, one line per variant, the dense ppl dashed.</summary>
    public static string PerplexityPlot(ContinualReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        const int panelW = 300, panelH = 220, left = 55, top = 40, legendW = 190;
        int n = report.Datasets.Count, steps = report.Variants.Count == 0 ? 0 : report.Variants[0].Seeds[0].R.Length;
        var rs = report.Variants.Select(MeanR).ToList();
        int width = left + (n * (panelW + left)) + legendW, height = top + panelH + 60;
        var sb = Begin(width, height);
        Text(sb, width / 2.0, 20, $"Perplexity per dataset after each step ({report.Pattern}); log scale{SeedNote(report)}", 14, "middle");
        for (int i = 0; i < n; i++)
        {
            double x0 = left + (i * (panelW + left)), y0 = top;
            // Only finite perplexities have a place on a log scale: one that overflowed (+∞) is left out of the panel,
            // and a panel with none keeps the scale of 1 to e.
            var values = rs.SelectMany(r => r.Select(row => row[i])).Append(report.Datasets[i].DensePerplexity).Where(Plottable).ToList();
            double lo = values.Count == 0 ? 0 : Math.Log(values.Min()), hi = values.Count == 0 ? 1 : Math.Log(values.Max());
            if (hi - lo < 1e-9)
            {
                hi = lo + 1;
            }
            double X(int t) => x0 + (steps <= 1 ? panelW / 2.0 : t * panelW / (double)(steps - 1));
            double Y(double v) => y0 + panelH - ((Math.Log(v) - lo) / (hi - lo) * panelH);
            sb.Append(Inv($"<rect x=\"{x0}\" y=\"{y0}\" width=\"{panelW}\" height=\"{panelH}\" fill=\"none\" stroke=\"#999\"/>\n"));
            Text(sb, x0 + (panelW / 2.0), y0 - 8, report.Datasets[i].Name, 13, "middle");
            foreach (double tick in new[] { Math.Exp(lo), Math.Exp((lo + hi) / 2), Math.Exp(hi) })
            {
                Text(sb, x0 - 4, Y(tick) + 4, tick.ToString("G4", CultureInfo.InvariantCulture), 10, "end");
            }
            for (int t = 0; t < steps; t++)
            {
                Text(sb, X(t), y0 + panelH + 16, $"after {report.Datasets[t].Name}", 10, "middle");
            }
            if (Plottable(report.Datasets[i].DensePerplexity))
            {
                double dy = Y(report.Datasets[i].DensePerplexity);
                sb.Append(Inv($"<line x1=\"{x0}\" y1=\"{dy:F1}\" x2=\"{x0 + panelW}\" y2=\"{dy:F1}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n"));
            }
            for (int v = 0; v < report.Variants.Count; v++)
            {
                string color = s_palette[v % s_palette.Length];
                // A line through the finite points only, broken where a value is missing.
                var run = new List<string>();
                for (int t = 0; t <= steps; t++)
                {
                    if (t < steps && Plottable(rs[v][t][i]))
                    {
                        run.Add(Inv($"{X(t):F1},{Y(rs[v][t][i]):F1}"));
                        continue;
                    }
                    if (run.Count > 0)
                    {
                        sb.Append(Inv($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{(report.Variants[v].Kind == "copal" ? 3 : 1.5)}\" points=\"{string.Join(' ', run)}\"/>\n"));
                        run.Clear();
                    }
                }
                for (int t = 0; t < steps; t++)
                {
                    if (Plottable(rs[v][t][i]))
                    {
                        sb.Append(Inv($"<circle cx=\"{X(t):F1}\" cy=\"{Y(rs[v][t][i]):F1}\" r=\"2.5\" fill=\"{color}\"/>\n"));
                    }
                }
            }
        }
        double lx = left + (n * (panelW + left)), ly = top;
        for (int v = 0; v < report.Variants.Count; v++)
        {
            string color = s_palette[v % s_palette.Length];
            sb.Append(Inv($"<line x1=\"{lx}\" y1=\"{ly + (v * 18)}\" x2=\"{lx + 20}\" y2=\"{ly + (v * 18)}\" stroke=\"{color}\" stroke-width=\"3\"/>\n"));
            Text(sb, lx + 26, ly + (v * 18) + 4, report.Variants[v].Name, 11, "start");
        }
        int k = report.Variants.Count;
        sb.Append(Inv($"<line x1=\"{lx}\" y1=\"{ly + (k * 18)}\" x2=\"{lx + 20}\" y2=\"{ly + (k * 18)}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n"));
        Text(sb, lx + 26, ly + (k * 18) + 4, "dense", 11, "start");
        return End(sb);
    }

    /// <summary>One heatmap per variant: cell (t, i) colored by log(R[t, i] / dense_i), on one shared scale, with the value written in.</summary>
    public static string Heatmap(ContinualReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        const int cell = 56, gap = 30, top = 60, left = 20, label = 70;
        int n = report.Datasets.Count, cols = Math.Min(4, Math.Max(1, report.Variants.Count));
        int rowsOfMaps = (report.Variants.Count + cols - 1) / cols;
        int mapW = label + (n * cell), mapH = 20 + (n * cell) + 18;
        int width = left + (cols * (mapW + gap)), height = top + (rowsOfMaps * (mapH + gap)) + 10;
        var rs = report.Variants.Select(MeanR).ToList();
        double maxRatio = rs.SelectMany(r => r.SelectMany((row, t) => row.Select((x, i) => Math.Log(x / report.Datasets[i].DensePerplexity))))
            .Where(double.IsFinite).DefaultIfEmpty(1).Max();
        if (maxRatio <= 0)
        {
            maxRatio = 1;
        }
        var sb = Begin(width, height);
        Text(sb, width / 2.0, 20, $"R[t, i]: perplexity on dataset i (column) after step t (row), {report.Pattern}{SeedNote(report)}", 14, "middle");
        Text(sb, width / 2.0, 38, "color: log(R / dense ppl), white = dense, dark red = the worst cell of all variants", 11, "middle");
        for (int v = 0; v < report.Variants.Count; v++)
        {
            VariantReport variant = report.Variants[v];
            double x0 = left + (v % cols * (mapW + gap)), y0 = top + (v / cols * (mapH + gap));
            Text(sb, x0 + label + (n * cell / 2.0), y0 + 12, variant.Name, 12, "middle");
            for (int i = 0; i < n; i++)
            {
                Text(sb, x0 + label + (i * cell) + (cell / 2.0), y0 + 20 + (n * cell) + 13, report.Datasets[i].Name, 10, "middle");
                Text(sb, x0 + label - 4, y0 + 20 + (i * cell) + (cell / 2.0) + 4, $"after {report.Datasets[i].Name}", 10, "end");
            }
            for (int t = 0; t < rs[v].Length; t++)
            {
                for (int i = 0; i < n; i++)
                {
                    double value = rs[v][t][i];
                    double f = Math.Clamp(Math.Log(value / report.Datasets[i].DensePerplexity) / maxRatio, 0, 1);
                    string fill = double.IsFinite(f) ? Color(f) : "#000000";
                    double cx = x0 + label + (i * cell), cy = y0 + 20 + (t * cell);
                    sb.Append(Inv($"<rect x=\"{cx}\" y=\"{cy}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#fff\"/>\n"));
                    Text(sb, cx + (cell / 2.0), cy + (cell / 2.0) + 4, value.ToString(value >= 1000 ? "F0" : "F1", CultureInfo.InvariantCulture), 10, "middle", f > 0.6 ? "#fff" : "#000");
                }
            }
        }
        return End(sb);
    }

    /// <summary>
    /// The metrics per variant, mean over seeds: final_gm_ratio and aia_gm_ratio as bars from 1 (= dense), and
    /// forgetting_log and intransigence_log as bars from 0; a missing value is left out.
    /// </summary>
    public static string MetricsPlot(ContinualReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        const int barH = 16, top = 60, label = 170, panelW = 240, gap = 40;
        (string Title, Func<MetricSummary, double?> Get, double Origin)[] panels =
        [
            ("final_gm_ratio", m => m.FinalGmRatio, 1), ("aia_gm_ratio", m => m.AiaGmRatio, 1),
            ("forgetting_log", m => m.ForgettingLog, 0), ("intransigence_log", m => m.IntransigenceLog, 0),
        ];
        int k = report.Variants.Count;
        int width = label + (panels.Length * (panelW + gap)), height = top + (k * (barH + 4)) + 30;
        var sb = Begin(width, height);
        Text(sb, width / 2.0, 20, $"Continual metrics ({report.Pattern}), mean over {Plural.Of(report.Seeds.Count, "seed")}; lower is better", 14, "middle");
        for (int v = 0; v < k; v++)
        {
            Text(sb, label - 6, top + (v * (barH + 4)) + 12, report.Variants[v].Name, 11, "end");
        }
        for (int p = 0; p < panels.Length; p++)
        {
            double x0 = label + (p * (panelW + gap));
            var values = report.Variants.Select(v => panels[p].Get(v.Mean)).ToList();
            var present = values.Where(x => x is double d && double.IsFinite(d)).Select(x => x!.Value).Append(panels[p].Origin).ToList();
            double lo = present.Min(), hi = present.Max();
            if (hi - lo < 1e-12)
            {
                hi = lo + 1;
            }
            double X(double value) => x0 + ((value - lo) / (hi - lo) * panelW);
            Text(sb, x0 + (panelW / 2.0), top - 14, panels[p].Title, 12, "middle");
            double origin = X(panels[p].Origin);
            sb.Append(Inv($"<line x1=\"{origin:F1}\" y1=\"{top - 4}\" x2=\"{origin:F1}\" y2=\"{top + (k * (barH + 4))}\" stroke=\"#000\"/>\n"));
            for (int v = 0; v < k; v++)
            {
                if (values[v] is not double value || !double.IsFinite(value))
                {
                    continue;
                }
                double a = Math.Min(origin, X(value)), b = Math.Max(origin, X(value)), y = top + (v * (barH + 4));
                string color = report.Variants[v].Kind is "copal" ? "#d62728" : report.Variants[v].Kind == "joint" ? "#7f7f7f" : "#1f77b4";
                sb.Append(Inv($"<rect x=\"{a:F1}\" y=\"{y}\" width=\"{Math.Max(b - a, 0.5):F1}\" height=\"{barH}\" fill=\"{color}\"/>\n"));
                Text(sb, b + 3, y + 12, value.ToString("G4", CultureInfo.InvariantCulture), 10, "start");
            }
        }
        return End(sb);
    }

    private static bool Plottable(double perplexity) => double.IsFinite(perplexity) && perplexity > 0;

    private static double[][] MeanR(VariantReport v) => ContinualMetrics.GeometricMean(v.Seeds.Select(s => s.R).ToList());

    private static string SeedNote(ContinualReport report) => report.Seeds.Count > 1 ? $"; geometric mean over {report.Seeds.Count} seeds" : "";

    // White → red → dark red.
    private static string Color(double f)
    {
        int r = f < 0.5 ? 255 : (int)(255 - ((f - 0.5) * 2 * 115));
        int g = f < 0.5 ? (int)(255 - (f * 2 * 215)) : (int)(40 - ((f - 0.5) * 2 * 40));
        int b = f < 0.5 ? (int)(255 - (f * 2 * 215)) : (int)(40 - ((f - 0.5) * 2 * 40));
        return $"#{r:x2}{Math.Max(g, 0):x2}{Math.Max(b, 0):x2}";
    }

    private static StringBuilder Begin(int width, int height)
    {
        var sb = new StringBuilder();
        sb.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n"));
        sb.Append(Inv($"<rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>\n"));
        return sb;
    }

    private static string End(StringBuilder sb) => sb.Append("</svg>\n").ToString();

    private static void Text(StringBuilder sb, double x, double y, string text, int size, string anchor, string color = "#000") =>
        sb.Append(Inv($"<text x=\"{x:F1}\" y=\"{y:F1}\" font-size=\"{size}\" text-anchor=\"{anchor}\" fill=\"{color}\">{WebUtility.HtmlEncode(text)}</text>\n"));

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
