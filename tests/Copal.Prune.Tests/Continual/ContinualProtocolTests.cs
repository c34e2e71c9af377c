using Copal.Model.Evaluation;
using Copal.Model.Synthetic;
using Copal.Prune.Continual.Protocol;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

public class ContinualProtocolTests
{
    [Fact]
    public void Dataset_specs_follow_the_grammar()
    {
        var list = ContinualDataset.ParseList("tiny=a.txt:b.txt, wiki=w.txt ,ptb=v.txt:t.txt@lines");
        Assert.Equal(["tiny", "wiki", "ptb"], list.Select(d => d.Name));
        Assert.Equal(new DataSplit("a.txt", FilePart.Whole, TextLayout.Raw), list[0].Calibration);
        Assert.Equal(new DataSplit("b.txt", FilePart.Whole, TextLayout.Raw), list[0].Evaluation);
        Assert.Equal(new DataSplit("w.txt", FilePart.FirstHalf, TextLayout.Raw), list[1].Calibration);
        Assert.Equal(new DataSplit("w.txt", FilePart.SecondHalf, TextLayout.Raw), list[1].Evaluation);
        Assert.Equal(TextLayout.JoinedLines, list[2].Calibration.Layout);
        Assert.Equal(TextLayout.JoinedLines, list[2].Evaluation.Layout);
        foreach (string bad in new[] { "noequals", "=a.txt", "x=", "x=a:b:c", "x=a@words", "x=a,x=b", "", ",", "x=a,", ",x=a", "x=a,,y=b" })
        {
            Assert.Throws<PruningOptionException>(() => ContinualDataset.ParseList(bad));
        }
    }

    [Fact]
    public void Halves_split_at_a_line_boundary_and_cover_the_file()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "one two\nthree\nfour five six\nseven\n");
            string first = new DataSplit(path, FilePart.FirstHalf, TextLayout.Raw).LoadText();
            string second = new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText();
            Assert.Equal("one two\nthree\nfour five six\nseven\n", first + second);
            Assert.EndsWith("\n", first, StringComparison.Ordinal);
            Assert.Equal("one two three four five six", new DataSplit(path, FilePart.FirstHalf, TextLayout.JoinedLines).LoadText());
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Two lines split one and one (the break past the middle is the last); one line cannot, and says where it was cut of how much.</summary>
    [Fact]
    public void Two_lines_split_one_and_one_and_one_line_is_refused_with_its_length()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "a\nb\n");
            Assert.Equal("a\n", new DataSplit(path, FilePart.FirstHalf, TextLayout.Raw).LoadText());
            Assert.Equal("b\n", new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText());
            File.WriteAllText(path, "a\nb\n\n"); // a blank last line is not a second half either
            Assert.Equal("b\n\n", new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText());
            File.WriteAllText(path, "ab\ncdefgh"); // no break past the middle: cut at the middle, as always
            Assert.Equal("ab\nc", new DataSplit(path, FilePart.FirstHalf, TextLayout.Raw).LoadText());
            File.WriteAllText(path, "one line\n");
            var e = Assert.Throws<InvalidDataException>(() => new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText());
            Assert.EndsWith("has no text in its second half (cut at character 9 of 9)", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// A cut at the middle (no line break after it) that falls inside a surrogate pair moves past the pair: each half
    /// was left with half of one character, which the tokenizer cannot read as the character it was.
    /// </summary>
    [Fact]
    public void A_cut_at_the_middle_does_not_split_a_character_in_two()
    {
        string path = Path.GetTempFileName();
        try
        {
            // "ab\n" then three emoji (two UTF-16 units each): 9 units, the middle (4) is the second unit of the first emoji.
            string text = "ab\n\U0001F600\U0001F601\U0001F602";
            File.WriteAllText(path, text);
            string first = new DataSplit(path, FilePart.FirstHalf, TextLayout.Raw).LoadText();
            string second = new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText();
            Assert.Equal("ab\n\U0001F600", first);
            Assert.Equal("\U0001F601\U0001F602", second);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static readonly double[][] s_r = [[10, 50, 40], [12, 20, 45], [16, 26, 30]];
    private static readonly double[] s_dense = [5, 25, 20];

    [Fact]
    public void Final_average_and_classic_bwt_follow_the_protocol()
    {
        Assert.Equal((16 + 26 + 30) / 3.0, ContinualMetrics.FinalAverage(s_r)!.Value, 12);
        // ((16 − 10) + (26 − 20)) / 2
        Assert.Equal(6.0, ContinualMetrics.Bwt(s_r)!.Value, 12);
        Assert.Null(ContinualMetrics.Bwt([[5.0]]));
    }

    [Fact]
    public void Geometric_mean_ratios_follow_the_hand_computed_values()
    {
        // final: (16/5 · 26/25 · 30/20)^(1/3)
        Assert.Equal(Math.Cbrt(3.2 * 1.04 * 1.5), ContinualMetrics.FinalGmRatio(s_r, s_dense)!.Value, 12);
        // aia: step 1 → 10/5; step 2 → √(12/5 · 20/25); step 3 → the final ratio; the geometric mean of the three.
        double aia = Math.Cbrt(2.0 * Math.Sqrt(2.4 * 0.8) * Math.Cbrt(3.2 * 1.04 * 1.5));
        Assert.Equal(aia, ContinualMetrics.AiaGmRatio(s_r, s_dense)!.Value, 12);
        Assert.Equal(2.0, ContinualMetrics.FinalGmRatio([[10.0]], [5.0])!.Value, 12);
    }

    [Fact]
    public void The_figures_average_seeds_by_the_geometric_mean_of_each_entry()
    {
        // Per entry: √(2·8) = 4, √(9·1) = 3, √(1·4) = 2, √(100·1) = 10 (an arithmetic mean would give 5, 5, 2.5, 50.5).
        double[][] mean = ContinualMetrics.GeometricMean([[[2, 9], [1, 100]], [[8, 1], [4, 1]]]);
        double[][] expected = [[4, 3], [2, 10]];
        for (int t = 0; t < 2; t++)
        {
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(expected[t][i], mean[t][i], 12);
            }
        }
    }

    [Fact]
    public void Forgetting_is_against_the_best_earlier_value_in_log_space()
    {
        // i = 1: log 16 − min(log 10, log 12); i = 2: log 26 − min(log 50, log 20).
        Assert.Equal(Math.Log(1.6 * 1.3) / 2, ContinualMetrics.ForgettingLog(s_r)!.Value, 12);
        // The best earlier value may precede the step that met the dataset: R[1, 2] = 18 < R[2, 2] = 20.
        double[][] early = [[10, 18, 40], [12, 20, 45], [16, 26, 30]];
        Assert.Equal(Math.Log(1.6 * 26 / 18) / 2, ContinualMetrics.ForgettingLog(early)!.Value, 12);
        // A frozen model forgets nothing; an improving one has negative forgetting.
        Assert.Equal(0, ContinualMetrics.ForgettingLog([[10, 20], [10, 20]])!.Value, 12);
        Assert.Equal(Math.Log(0.5), ContinualMetrics.ForgettingLog([[10, 20], [5, 20]])!.Value, 12);
        Assert.Null(ContinualMetrics.ForgettingLog([[5.0]]));
    }

    [Fact]
    public void Intransigence_compares_the_diagonal_with_the_joint_one()
    {
        double[][] joint = [[10, 50, 40], [11, 16, 45], [15, 25, 24]];
        // (log 10/10 + log 20/16 + log 30/24) / 3
        Assert.Equal(2 * Math.Log(1.25) / 3, ContinualMetrics.IntransigenceLog(s_r, joint)!.Value, 12);
        Assert.Equal(0, ContinualMetrics.IntransigenceLog(joint, joint)!.Value, 12);
        Assert.Null(ContinualMetrics.IntransigenceLog(s_r, null));
    }

    /// <summary>
    /// A joint reference of another run's length (a fourth step the variant never took) pairs the variant's diagonal
    /// with the wrong steps; it is refused naming both lengths, not averaged over the variant's steps.
    /// </summary>
    [Fact]
    public void Intransigence_refuses_a_joint_reference_of_another_length()
    {
        double[][] longer = [[10, 50, 40, 1], [11, 16, 45, 1], [15, 25, 24, 1], [15, 25, 24, 1]];
        var e = Assert.Throws<ArgumentException>(() => ContinualMetrics.IntransigenceLog(s_r, longer));
        Assert.StartsWith("the joint reference has 4 steps, the variant 3", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// "COPAL lower" is strict: a seed where a variant ends at exactly COPAL's final_gm_ratio is a tie, not a seed
    /// COPAL won.
    /// </summary>
    [Fact]
    public void A_tie_is_not_a_seed_copal_won()
    {
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset")];
        double[][][] copal = [[[12, 30], [20, 20]], [[12, 30], [20, 20]]];
        double[][][] wanda = [[[12, 40], [20, 20]], [[12, 40], [30, 30]]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL, 1UL], [10, 10],
            (i, s) => new VariantRun(i == 0 ? copal[s] : wanda[s], [0, 0], [0, 0], [null, 0], [0, 0]));
        Assert.Equal(v[0].Seeds[0].FinalGmRatio, v[1].Seeds[0].FinalGmRatio);
        Assert.Equal(1, v[1].SeedsCopalLower);
    }

    /// <summary>
    /// A perplexity of 0 (or below) is no perplexity: its log is not a finite number, and the metrics built on it are
    /// null, as for NaN, rather than a ratio of 0 or a forgetting of −∞ turned into a number.
    /// </summary>
    [Fact]
    public void A_zero_perplexity_gives_null_metrics()
    {
        double[][] zero = [[10, 20], [0, 20]];
        Assert.Null(ContinualMetrics.FinalGmRatio(zero, [5, 25]));
        Assert.Null(ContinualMetrics.AiaGmRatio(zero, [5, 25]));
        Assert.Null(ContinualMetrics.FinalGmRatio([[10, 20], [12, 20]], [0, 25]));
    }

    /// <summary>
    /// R is one row per step and one column per dataset, T × T: two steps over three datasets is a run cut short, and
    /// is refused rather than summarized over the steps it has.
    /// </summary>
    [Fact]
    public void An_R_with_fewer_steps_than_datasets_is_refused()
    {
        double[][] twoSteps = [[10, 50, 40], [12, 20, 45]];
        Assert.Throws<ArgumentException>(() => ContinualMetrics.FinalGmRatio(twoSteps, s_dense));
        Assert.Throws<ArgumentException>(() => ContinualMetrics.AiaGmRatio(twoSteps, s_dense));
    }

    [Fact]
    public void A_metric_that_cannot_be_formed_is_null_not_nan()
    {
        double[][] bad = [[double.PositiveInfinity, 50], [12, double.NaN]];
        Assert.Null(ContinualMetrics.FinalGmRatio(bad, [5, 25]));
        Assert.Null(ContinualMetrics.AiaGmRatio(bad, [5, 25]));
        Assert.Null(ContinualMetrics.ForgettingLog([[10, 20], [double.NaN, 20]]));
        Assert.Null(ContinualMetrics.IntransigenceLog(bad, [[10, 20], [12, 20]]));
        Assert.Null(ContinualMetrics.Bwt(bad));
        VariantRun run = new(bad, [1, 1], [1, 1], [null, 0.1], [1, 1]);
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize([("copal", "copal", "copal")], [0UL], [5, 25], (_, _) => run);
        string json = System.Text.Json.JsonSerializer.Serialize(v, Copal.Prune.Driver.PruneJob.ReportJsonOptions);
        Assert.DoesNotContain("NaN", json, StringComparison.Ordinal);
        Assert.DoesNotContain("Infinity", json, StringComparison.Ordinal);
        Assert.Contains("\"final_gm_ratio\": null", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Precondition_fails_where_calibrating_on_a_dataset_did_not_help_it()
    {
        Assert.Empty(ContinualMetrics.PreconditionFailures(s_r));
        Assert.Equal([2], ContinualMetrics.PreconditionFailures([[10, 50, 40], [12, 20, 45], [16, 26, 40]]));
        Assert.Equal([1, 2], ContinualMetrics.PreconditionFailures([[10, 20, 40], [12, 21, 45], [16, 26, 41]]));
    }

    [Fact]
    public void Variants_include_one_joint_per_data_dependent_method()
    {
        var request = new ContinualRequest("m", [], ["copal", "wanda", "magnitude", "sparsegpt"], new SparsityPattern.Unstructured(0.5), 1, 2, 2, [0UL], new Copal.Prune.Continual.CopalOptions());
        Assert.Equal(["copal", "wanda-reset", "wanda-cumulative", "magnitude-reset", "magnitude-cumulative", "sparsegpt-reset", "sparsegpt-cumulative", "joint-copal", "joint-wanda", "joint-sparsegpt"],
            ContinualRunner.Variants(request).Select(v => v.Name));
        Assert.Equal(["magnitude-reset", "magnitude-cumulative"], ContinualRunner.Variants(request with { Methods = ["magnitude"] }).Select(v => v.Name));
        Assert.Equal(["copal", "wanda-reset", "wanda-cumulative"], ContinualRunner.Variants(request with { Methods = ["copal", "wanda"], Joint = false }).Select(v => v.Name));
    }

    [Fact]
    public void The_summary_pairs_seeds_against_copal_and_measures_intransigence_against_the_methods_joint()
    {
        (string, string, string)[] variants =
            [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset"), ("magnitude-reset", "magnitude", "reset"), ("magnitude-cumulative", "magnitude", "cumulative"),
             ("joint-copal", "copal", "joint"), ("joint-wanda", "wanda", "joint")];
        double[] dense = [10, 10];
        // Final rows: copal 20·20 on seed 0 and 40·40 on seed 1; wanda-reset 30·30 on both: COPAL lower on one seed of two.
        double[][][] copal = [[[15, 30], [20, 20]], [[15, 30], [40, 40]]];
        double[][][] wanda = [[[12, 40], [30, 30]], [[12, 40], [30, 30]]];
        double[][] magnitude = [[50, 50], [50, 50]];
        double[][] jointCopal = [[15, 30], [16, 18]];
        double[][] jointWanda = [[12, 40], [24, 25]];
        VariantRun Run(double[][] r) => new(r, [0, 0], [0, 0], [null, 0], [0, 0]);
        VariantRun Pick(int v, int s) => v switch
        {
            0 => Run(copal[s]),
            1 => Run(wanda[s]),
            2 or 3 => Run(magnitude),
            4 => Run(jointCopal),
            _ => Run(jointWanda),
        };
        IReadOnlyList<VariantReport> reports = ContinualRunner.Summarize(variants, [0UL, 7UL], dense, Pick);
        VariantReport c = reports[0], w = reports[1], m = reports[3];
        Assert.Equal([0UL, 7UL], c.Seeds.Select(s => s.Seed));
        Assert.Null(c.SeedsCopalLower);
        Assert.Equal(1, w.SeedsCopalLower);
        Assert.Equal(2, m.SeedsCopalLower);
        Assert.Equal((2.0 + 4.0) / 2, c.Mean.FinalGmRatio!.Value, 12);
        Assert.Equal("joint-copal", c.IntransigenceReference);
        Assert.Equal("joint-wanda", w.IntransigenceReference);
        Assert.Equal("magnitude-reset", m.IntransigenceReference);
        // copal, seed 0: (log 15/15 + log 20/18) / 2; seed 1: (0 + log 40/18) / 2.
        Assert.Equal(Math.Log(20.0 / 18) / 2, c.Seeds[0].IntransigenceLog!.Value, 12);
        Assert.Equal(((Math.Log(20.0 / 18) / 2) + (Math.Log(40.0 / 18) / 2)) / 2, c.Mean.IntransigenceLog!.Value, 12);
        Assert.Equal(Math.Log(30.0 / 25) / 2, w.Seeds[0].IntransigenceLog!.Value, 12);
        Assert.Equal(0, m.Seeds[0].IntransigenceLog!.Value, 12);
        Assert.Equal(0, reports[4].Seeds[0].IntransigenceLog!.Value, 12);
        // Without joint variants there is no reference.
        IReadOnlyList<VariantReport> noJoint = ContinualRunner.Summarize(variants[..2], [0UL], dense, Pick);
        Assert.Null(noJoint[0].IntransigenceReference);
        Assert.Null(noJoint[0].Mean.IntransigenceLog);
    }

    /// <summary>
    /// A variant whose final perplexity overflowed (+∞, its final_gm_ratio null) is worse than COPAL's finite one on
    /// that seed: the paired count took a null as "not lower" and reported 0/1 where COPAL won. Where COPAL's own
    /// overflowed, or both did, it is not lower.
    /// </summary>
    [Fact]
    public void A_variant_whose_final_perplexity_overflowed_counts_as_a_seed_copal_won()
    {
        double inf = double.PositiveInfinity;
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset"), ("magnitude-reset", "magnitude", "reset")];
        // Seed 0: COPAL finite, wanda overflowed, magnitude overflowed; seed 1: COPAL overflowed, wanda finite, magnitude overflowed.
        double[][][] copal = [[[12, 30], [14, 20]], [[12, 30], [inf, 20]]];
        double[][][] wanda = [[[12, 40], [inf, 30]], [[12, 40], [15, 30]]];
        double[][] magnitude = [[50, 50], [50, inf]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL, 1UL], [10, 10],
            (i, s) => new VariantRun(i == 0 ? copal[s] : i == 1 ? wanda[s] : magnitude, [0, 0], [0, 0], [null, 0], [0, 0]));
        Assert.Null(v[1].Seeds[0].FinalGmRatio);
        Assert.Equal(1, v[1].SeedsCopalLower);
        Assert.Equal(1, v[2].SeedsCopalLower);
    }

    /// <summary>
    /// A perplexity that overflows (mean NLL past 709) is +∞, also the dense model's: the report is still written,
    /// and no figure puts ∞ or NaN into a coordinate (the perplexity plot threw at the end of the whole run).
    /// </summary>
    [Fact]
    public void Figures_of_a_report_with_an_overflowing_perplexity_are_written_without_non_finite_coordinates()
    {
        double inf = double.PositiveInfinity;
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset")];
        double[][] copal = [[inf, 30], [inf, 20]], wanda = [[inf, 40], [inf, inf]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL], [inf, 10],
            (i, _) => new VariantRun(i == 0 ? copal : wanda, [0, 0], [0, 0], [null, 0], [0, 0]));
        ContinualReport Report(double[] dense, IReadOnlyList<VariantReport> reports) => new("m", "0.5", 1, 2, 2, null, [0UL], "cpu", null, "", "", "", null, [],
            [new("a", "x", "y", 1, 1, dense[0]), new("b", "x", "y", 1, 1, dense[1])], reports, 1, 1);
        // Every value of the first dataset is +∞, the dense one too; the second has one +∞ among finite values.
        ContinualReport report = Report([inf, 10], v);
        var coordinate = new System.Text.RegularExpressions.Regex("=\"[^\"]*(∞|NaN|Infinity)[^\"]*\"");
        foreach (string svg in new[] { ContinualSvg.PerplexityPlot(report), ContinualSvg.Heatmap(report), ContinualSvg.MetricsPlot(report) })
        {
            Assert.EndsWith("</svg>\n", svg, StringComparison.Ordinal);
            Assert.DoesNotMatch(coordinate, svg);
        }
        // The finite points of the second dataset are still drawn: copal's two, wanda's first.
        string plot = ContinualSvg.PerplexityPlot(report);
        Assert.Equal(2 + 1, System.Text.RegularExpressions.Regex.Count(plot, "<circle "));
        Assert.Contains("| a | x (1 tokens) | y (1 tokens) |", ContinualMarkdown.Render(report), StringComparison.Ordinal);
    }

    /// <summary>
    /// A signed metric that is negative but rounds to zero keeps its minus and nothing else: the format
    /// "+0.0000;-0.0000" printed it "-+0.0000" (and BWT "-+0.00") in the summary and in every seed's line.
    /// </summary>
    [Fact]
    public void A_small_negative_metric_is_printed_with_one_sign()
    {
        // Forgetting log(9.9998/10) ≈ −2e-5, BWT 9.9998 − 10 = −2e-4: both round to zero at the report's decimals.
        double[][] r = [[10, 20], [9.9998, 20]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize([("wanda-cumulative", "wanda", "cumulative")], [0UL], [10, 20],
            (_, _) => new VariantRun(r, [0, 0], [0, 0], [null, 0], [0, 0]));
        var report = new ContinualReport("m", "0.5", 1, 2, 2, null, [0UL], "cpu", null, "", "", "", null, [],
            [new("a", "x", "y", 1, 1, 10), new("b", "x", "y", 1, 1, 20)], v, 1, 1);
        string md = ContinualMarkdown.Render(report);
        Assert.DoesNotContain("-+", md, StringComparison.Ordinal);
        Assert.Contains("| wanda-cumulative | 1.0000 | 1.0000 | -0.0000 | – | – | -0.00 |", md, StringComparison.Ordinal);
        Assert.Contains("forgetting_log -0.0000, intransigence_log –, classic BWT -0.00,", md, StringComparison.Ordinal);
        Assert.Equal("+0.0000", SignedFixed.Format(-0.0, 4));
        Assert.Equal("+0.0001", SignedFixed.Format(0.00005001, 4));
        Assert.Equal("-1.25", SignedFixed.Format(-1.25, 2));
        Assert.Equal("–", SignedFixed.Format((double?)null, 4));
    }

    [Fact]
    public void A_failed_precondition_is_the_first_line_of_the_report()
    {
        VariantRun Run(double[][] r) => new(r, [0, 0], [0, 0], [null, 0], [0, 0]);
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset"), ("magnitude-reset", "magnitude", "reset")];
        double[][] good = [[12, 40], [30, 30]], bad = [[12, 20], [30, 25]];
        ContinualReport Report(double[][] wanda)
        {
            IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [3UL], [10, 10], (i, _) => Run(i == 1 ? wanda : bad));
            IReadOnlyList<PreconditionReport> p = ContinualRunner.Preconditions(v, ["a", "b"]);
            return new ContinualReport("m", "50%", 1, 2, 2, null, [3UL], "cpu", new Copal.Prune.Continual.CopalManifestOptions("output", "sum", 1, false, 0.01, "fixed"), "", "", "",
                ContinualRunner.PreconditionWarning(p), p, [new("a", "x", "y", 1, 1, 10), new("b", "x", "y", 1, 1, 10)], v, 1, 1);
        }
        ContinualReport failing = Report(bad);
        // Magnitude is data-free: only the wanda reset baseline is checked.
        Assert.Equal("wanda-reset", Assert.Single(failing.Preconditions).Variant);
        Assert.Equal(["b"], failing.Preconditions[0].Failed);
        string md = ContinualMarkdown.Render(failing);
        string first = md.Split('\n')[0];
        Assert.Contains("Precondition failed", first, StringComparison.Ordinal);
        Assert.Contains("wanda-reset on b (seed 3)", first, StringComparison.Ordinal);
        Assert.Contains("pre-training-domain affinity", first, StringComparison.Ordinal);
        ContinualReport holding = Report(good);
        Assert.Null(holding.PreconditionWarning);
        Assert.StartsWith("# Continual pruning", ContinualMarkdown.Render(holding), StringComparison.Ordinal);
        Assert.Contains("<svg", ContinualSvg.MetricsPlot(holding), StringComparison.Ordinal);
    }

    private static ContinualRequest SmallRequest()
    {
        string text(string a, string b) => TestData.Path("text", a, b);
        var datasets = ContinualDataset.ParseList($"tiny={text("tinystories", "calib.txt")}:{text("tinystories", "eval.txt")},ptb={text("ptb", "ptb.valid.txt")}:{text("ptb", "ptb.test.txt")}@lines");
        return new ContinualRequest(TestData.Stories260K, datasets, ["magnitude"], new SparsityPattern.Unstructured(0.5), 1, 32, 32, [0UL],
            new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };
    }

    [Theory]
    [InlineData("sparsegpt")]
    [InlineData("copal")]
    public void A_pattern_SparseGpts_sweep_cannot_apply_is_refused_before_any_work_naming_the_pattern(string method)
    {
        // Every input size is a multiple of 3, so magnitude and Wanda could run 1:3; SparseGPT's sweep (COPAL's OBS mask
        // too) chooses N:M inside blocks of 128 columns, and would have failed at its first variant.
        DirectoryInfo temp = Directory.CreateTempSubdirectory("copal-continual-");
        try
        {
            string model = Path.Combine(temp.FullName, "width96");
            SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny") with { HiddenSize = 96, IntermediateSize = 192, HeadDim = 24 },
                model, DType.F32, seed: 3, tokenizerDirectory: null);
            ContinualRequest request = SmallRequest() with { ModelDirectory = model, Methods = [method], Pattern = SparsityPattern.Parse("1:3") };
            var e = Assert.Throws<PruningOptionException>(() => ContinualRunner.Prepare(request));
            Assert.Equal(("pattern", "1:3"), (e.Option, e.Value));
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Two datasets calibrating on the same text draw the same windows at every seed: COPAL folded that dataset in
    /// twice, and the run reported forgetting between two datasets that are one.
    /// </summary>
    [Fact]
    public void A_dataset_calibrating_on_an_earlier_ones_text_is_refused_before_any_work_naming_both()
    {
        ContinualRequest good = SmallRequest();
        ContinualRequest same = good with { Datasets = [.. good.Datasets, good.Datasets[0] with { Name = "again", Evaluation = good.Datasets[1].Evaluation }] };
        var e = Assert.Throws<InvalidDataException>(() => ContinualRunner.Prepare(same));
        Assert.StartsWith("'again' calibrates on the same text as 'tiny' (the same ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("so every seed would draw the same windows for both and COPAL would fold one dataset in twice; expected a calibration text of its own for each dataset", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, ContinualRunner.Prepare(good).CalibrationTokens.Count);
    }

    [Fact]
    public void A_request_the_protocol_cannot_run_is_refused_before_any_work_naming_the_field_the_expected_and_the_actual_value()
    {
        ContinualRequest good = SmallRequest();
        string file = Path.GetTempFileName();
        try
        {
            var cases = new (ContinualRequest Request, string Field, string Got)[]
            {
                (good with { Datasets = [] }, "Datasets", "got none"),
                (good with { Datasets = [good.Datasets[0], good.Datasets[1], good.Datasets[0] with { Calibration = good.Datasets[1].Calibration }] }, "Datasets[2].Name", "'tiny'"),
                (good with { Datasets = [good.Datasets[0] with { Name = "" }] }, "Datasets[0].Name", "an empty string"),
                (good with { Methods = [] }, "Methods", "got none"),
                (good with { Methods = ["magnitude", "obs"] }, "Methods[1]", "'obs'"),
                (good with { Methods = ["wanda", "Wanda"] }, "Methods[1]", "'Wanda'"),
                (good with { Seeds = [] }, "Seeds", "got none"),
                (good with { Seeds = [1UL, 2UL, 1UL] }, "Seeds[2]", "got 1"),
                (good with { NSamples = 0 }, "NSamples", "got 0"),
                (good with { SeqLen = 1 }, "SeqLen", "got 1"),
                (good with { SeqLen = 1024 }, "SeqLen", "got 1024"),
                (good with { EvalSeqLen = 1024 }, "EvalSeqLen", "got 1024"),
                (good with { EvalSeqLen = 1 }, "EvalSeqLen", "got 1"),
                (good with { EvalLimitChunks = 0 }, "EvalLimitChunks", "got 0"),
                (good with { TempDirectory = file }, "TempDirectory", $"'{file}'"),
                (good with { TempDirectory = "" }, "TempDirectory", "an empty string"),
            };
            using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
            foreach ((ContinualRequest request, string field, string got) in cases)
            {
                var reports = new List<ContinualProgress>();
                ArgumentException prepare = Assert.Throws<ArgumentException>(() => ContinualRunner.Prepare(request, new CallbackProgress<ContinualProgress>(reports.Add)));
                ArgumentException run = Assert.Throws<ArgumentException>(() => ContinualRunner.Run(request,
                    new ContinualData([.. request.Datasets.Select(_ => new int[64])], [.. request.Datasets.Select(_ => new int[64])]), backend, new CallbackProgress<ContinualProgress>(reports.Add)));
                foreach (ArgumentException e in new[] { prepare, run })
                {
                    Assert.Equal("request", e.ParamName);
                    Assert.StartsWith($"ContinualRequest.{field}: expected ", e.Message, StringComparison.Ordinal);
                    Assert.Contains(got, e.Message, StringComparison.Ordinal);
                }
                // Nothing was tokenized, evaluated or pruned.
                Assert.Empty(reports);
            }
            // Data prepared for another request: too little calibration text, or a pattern the model cannot take, is
            // refused by Run as by Prepare, before the dense evaluation.
            var none = new List<ContinualProgress>();
            ContinualData shortData = new([.. good.Datasets.Select(_ => new int[10])], [.. good.Datasets.Select(_ => new int[64])]);
            Assert.Throws<CalibrationLimitException>(() => ContinualRunner.Run(good, shortData, backend, new CallbackProgress<ContinualProgress>(none.Add)));
            ContinualData enough = new([.. good.Datasets.Select(_ => new int[64])], [.. good.Datasets.Select(_ => new int[64])]);
            Assert.Equal("pattern", Assert.Throws<PruningOptionException>(() => ContinualRunner.Run(good with { Pattern = new SparsityPattern.NM(4, 8) }, enough, backend, new CallbackProgress<ContinualProgress>(none.Add))).Option);
            Assert.Empty(none);
            // The intermediate models would be written into the dense model's folder.
            IOException inside = Assert.Throws<IOException>(() => ContinualRunner.Prepare(good with { TempDirectory = Path.Combine(good.ModelDirectory, "tmp") }));
            Assert.Contains("ContinualRequest.TempDirectory", inside.Message, StringComparison.Ordinal);
            // The variants are named by the same checks.
            Assert.StartsWith("ContinualRequest.Methods[1]: expected ", Assert.Throws<ArgumentException>(() => ContinualRunner.Variants(good with { Methods = ["copal", "obs"] })).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_run_without_copal_reports_no_copal_options()
    {
        string text(string a, string b) => TestData.Path("text", a, b);
        var datasets = ContinualDataset.ParseList($"tiny={text("tinystories", "calib.txt")}:{text("tinystories", "eval.txt")}");
        var request = new ContinualRequest(TestData.Stories260K, datasets, ["magnitude"], new SparsityPattern.Unstructured(0.5), 1, 32, 32, [0UL],
            new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
        ContinualReport report = ContinualRunner.Run(request, backend);
        Assert.Null(report.CopalOptions);
        Assert.Null(report.CopalUpstream);
        Assert.DoesNotContain("COPAL:", ContinualMarkdown.Render(report), StringComparison.Ordinal);
    }

    /// <summary>
    /// Without joint references the report says none ran, not how they were pruned; magnitude, data-free, is still
    /// measured against its reset (its own joint), and a data-dependent method's intransigence is null.
    /// </summary>
    [Fact]
    public void A_run_without_joint_references_says_so_and_measures_intransigence_only_for_magnitude()
    {
        ContinualRequest request = SmallRequest() with { Methods = ["magnitude", "wanda"], Joint = false };
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
        ContinualReport report = ContinualRunner.Run(request, backend);
        Assert.Equal(ContinualRunner.NoJointDescription, report.Joint);
        Assert.DoesNotContain("joint-<method>", ContinualMarkdown.Render(report), StringComparison.Ordinal);
        Assert.NotNull(report.Variants.Single(v => v.Name == "magnitude-cumulative").Mean.IntransigenceLog);
        Assert.Null(report.Variants.Single(v => v.Name == "wanda-reset").Mean.IntransigenceLog);
    }

    [Fact]
    public void A_run_shares_identical_models_across_variants_and_seeds_and_leaves_no_temporary_files()
    {
        using var temp = new TempDir("copal-continual-test-");
        string text(string a, string b) => TestData.Path("text", a, b);
        var datasets = ContinualDataset.ParseList($"tiny={text("tinystories", "calib.txt")}:{text("tinystories", "eval.txt")},ptb={text("ptb", "ptb.valid.txt")}:{text("ptb", "ptb.test.txt")}@lines");
        // --mask obs keeps the accumulated Hessians, so the disk-backed state (spill, save, reload) runs over all 5 layers.
        var request = new ContinualRequest(TestData.Stories260K, datasets, ["copal", "magnitude"], new SparsityPattern.Unstructured(0.5), 2, 32, 32, [0UL, 1UL],
            new Copal.Prune.Continual.CopalOptions(Accumulate: Copal.Prune.Continual.SensitivityAccumulation.Pooled, Mask: Copal.Prune.Continual.CopalMaskRule.Obs))
        {
            EvalLimitChunks = 2,
            // Folders the run makes for its temporary models go again too.
            TempDirectory = Path.Combine(temp.Path, "made", "here"),
        };
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
        ContinualReport report = ContinualRunner.Run(request, backend);
        Assert.Equal(["copal", "magnitude-reset", "magnitude-cumulative", "joint-copal"], report.Variants.Select(v => v.Name));
        VariantReport copal = report.Variants[0], reset = report.Variants[1], cumulative = report.Variants[2], joint = report.Variants[3];
        foreach (int s in new[] { 0, 1 })
        {
            // Step 1 of joint is COPAL's step 1 (a fresh state on D1): pruned and evaluated once.
            Assert.Equal(copal.Seeds[s].R[0], joint.Seeds[s].R[0]);
            Assert.Equal(0, joint.Seeds[s].PruneSeconds[0]);
            Assert.True(joint.Seeds[s].PruneSeconds[1] > 0);
            // Magnitude's cumulative step 1 is its reset step 1; re-pruning it gives the same weights, which are not evaluated again.
            Assert.Equal(0, cumulative.Seeds[s].PruneSeconds[0]);
            Assert.Equal(s == 0, cumulative.Seeds[s].PruneSeconds[1] > 0);
            Assert.Equal(0, cumulative.Seeds[s].EvalSeconds[1]);
            Assert.Equal(reset.Seeds[s].R[1], cumulative.Seeds[s].R[1]);
            Assert.Equal(0.0, cumulative.Seeds[s].MaskChange[1]);
            Assert.Equal(2, copal.Seeds[s].R.Length);
            Assert.NotNull(copal.Seeds[s].FinalGmRatio);
        }
        // Magnitude is data-free: seed 1 reuses seed 0's models.
        Assert.All(reset.Seeds[1].PruneSeconds, x => Assert.Equal(0, x));
        Assert.Equal(reset.Seeds[0].R, reset.Seeds[1].R);
        Assert.Equal(2, copal.Seeds.Count);
        Assert.Equal([0UL, 1UL], report.Seeds);
        Assert.Equal("Obs", report.CopalOptions?.Mask, ignoreCase: true);
        Assert.Contains("COPAL: sensitivity", ContinualMarkdown.Render(report), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    /// <summary>
    /// The working folder is made before the dense evaluation (so a --temp that cannot take one is said before it)
    /// and removed, with the folders made for it, however the run ends: here cancelled during that evaluation.
    /// </summary>
    [Fact]
    public void A_run_cancelled_during_the_dense_evaluation_leaves_no_working_folder()
    {
        using var temp = new TempDir("copal-continual-test-");
        string work = Path.Combine(temp.Path, "made", "here");
        ContinualRequest request = SmallRequest() with { Methods = ["magnitude"], Joint = false, TempDirectory = work };
        using var cts = new CancellationTokenSource();
        bool heldDuringEvaluation = false;
        var progress = new CallbackProgress<ContinualProgress>(p =>
        {
            if (p.Variant == "dense" && p.Stage.StartsWith("perplexity", StringComparison.Ordinal) && !cts.IsCancellationRequested)
            {
                heldDuringEvaluation = Directory.Exists(work) && Directory.GetDirectories(work, ".copal-continual.tmp-*").Length == 1;
                cts.Cancel();
            }
        });
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
        Assert.ThrowsAny<OperationCanceledException>(() => ContinualRunner.Run(request, backend, progress, cts.Token));
        Assert.True(heldDuringEvaluation, "no working folder existed while the dense model was evaluated");
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }
}
