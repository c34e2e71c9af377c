using Copal.Prune.Continual.Protocol;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The edges of the protocol's summary that the main tests left open: a ragged R, a NaN in the paired seed count, a
/// seed without a metric in the mean, which seed's joint run intransigence reads, and the warning over several seeds.
/// </summary>
public class ContinualSummaryEdgeTests
{
    private static VariantRun Run(double[][] r) => new(r, [0, 0], [0, 0], [null, 0], [0, 0]);

    /// <summary>
    /// R is T × T: a run with as many steps as datasets but a row of another length is refused, not summarized from the
    /// entries that happen to be there (the final ratio reads only the last row, which is whole here).
    /// </summary>
    [Fact]
    public void An_R_with_a_row_of_another_length_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ContinualMetrics.FinalGmRatio([[10], [12, 20]], [5, 25]));
        Assert.Throws<ArgumentException>(() => ContinualMetrics.AiaGmRatio([[10, 20, 30], [12, 20]], [5, 25]));
    }

    /// <summary>
    /// A variant's null final_gm_ratio counts as higher than COPAL's only where a final perplexity overflowed (+∞); one
    /// that is null because a final perplexity is NaN says nothing about which is lower, and is no seed COPAL won.
    /// </summary>
    [Fact]
    public void A_nan_final_perplexity_is_no_seed_copal_won()
    {
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("wanda-reset", "wanda", "reset")];
        double[][] copal = [[12, 30], [20, 20]], nan = [[15, 40], [double.NaN, 20]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL], [10, 10], (i, _) => Run(i == 0 ? copal : nan));
        Assert.NotNull(v[0].Seeds[0].FinalGmRatio);
        Assert.Null(v[1].Seeds[0].FinalGmRatio);
        Assert.Equal(0, v[1].SeedsCopalLower);
    }

    /// <summary>A metric one seed could not form makes the mean over seeds null, not the mean of the others.</summary>
    [Fact]
    public void A_mean_over_seeds_with_one_seed_missing_a_metric_is_null()
    {
        (string, string, string)[] variants = [("copal", "copal", "copal")];
        double[][][] copal = [[[12, 30], [20, 20]], [[12, 30], [double.PositiveInfinity, 20]]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL, 1UL], [10, 10], (_, s) => Run(copal[s]));
        Assert.Equal(2.0, v[0].Seeds[0].FinalGmRatio!.Value, 12);
        Assert.Null(v[0].Seeds[1].FinalGmRatio);
        Assert.Null(v[0].Mean.FinalGmRatio);
        // Forgetting likewise: seed 0's is log 20/12, seed 1's final +∞ leaves it unformed, and so the mean.
        Assert.Equal(Math.Log(20.0 / 12), v[0].Seeds[0].ForgettingLog!.Value, 12);
        Assert.Null(v[0].Seeds[1].ForgettingLog);
        Assert.Null(v[0].Mean.ForgettingLog);
    }

    /// <summary>Intransigence on a seed is against the joint reference's run on that same seed (paired), not another seed's.</summary>
    [Fact]
    public void Intransigence_on_each_seed_is_against_the_joint_run_of_that_seed()
    {
        (string, string, string)[] variants = [("copal", "copal", "copal"), ("joint-copal", "copal", "joint")];
        double[][] copal = [[15, 30], [20, 20]];
        double[][][] joint = [[[15, 30], [16, 20]], [[15, 30], [16, 10]]];
        IReadOnlyList<VariantReport> v = ContinualRunner.Summarize(variants, [0UL, 1UL], [10, 10], (i, s) => Run(i == 0 ? copal : joint[s]));
        // (log 15/15 + log 20/20) / 2 on seed 0; (0 + log 20/10) / 2 on seed 1.
        Assert.Equal(0, v[0].Seeds[0].IntransigenceLog!.Value, 12);
        Assert.Equal(Math.Log(2) / 2, v[0].Seeds[1].IntransigenceLog!.Value, 12);
    }

    /// <summary>The warning names each failing dataset once, however many seeds it failed on, and lists those seeds.</summary>
    [Fact]
    public void The_precondition_warning_names_a_dataset_that_failed_on_several_seeds_once()
    {
        PreconditionReport[] p = [new("wanda-reset", 3, false, ["b"]), new("wanda-reset", 4, false, ["b"]), new("sparsegpt-reset", 3, true, [])];
        string warning = ContinualRunner.PreconditionWarning(p)!;
        Assert.Contains("(wanda-reset on b (seeds 3,4))", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("sparsegpt", warning, StringComparison.Ordinal);
    }
}
