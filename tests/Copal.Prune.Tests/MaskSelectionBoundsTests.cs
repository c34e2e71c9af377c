namespace Copal.Prune.Tests;

/// <summary>
/// MaskSelection and Selection at their edges, which mutation testing found unchecked: counts of 0, 1 and all, a
/// rank past the last, a mask marked before the call, groups wider than 64, a matrix past the pooled scratch, and
/// shapes that do not match.
/// </summary>
public class MaskSelectionBoundsTests
{
    [Fact]
    public void Per_row_takes_one_or_every_entry_and_refuses_more_than_a_row()
    {
        double[] scores = [3, 1, 2, /**/ 0, 5, 4];
        var one = new bool[6];
        MaskSelection.PruneLowestPerRow(scores, 2, 3, 1, one);
        Assert.Equal([false, true, false, true, false, false], one);
        var all = new bool[6];
        MaskSelection.PruneLowestPerRow(scores, 2, 3, 3, all);
        Assert.All(all, Assert.True);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MaskSelection.PruneLowestPerRow(scores, 2, 3, 4, new bool[6]));
        Assert.Equal("countPerRow", e.ParamName);
    }

    [Fact]
    public void Global_takes_one_or_every_entry_and_refuses_more_than_the_scores()
    {
        double[] scores = [3, 1, 2, 0, 5, 4];
        var one = new bool[6];
        MaskSelection.PruneLowestGlobal(scores, 1, one);
        Assert.Equal([false, false, false, true, false, false], one);
        var all = new bool[6];
        MaskSelection.PruneLowestGlobal(scores, 6, all);
        Assert.All(all, Assert.True);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MaskSelection.PruneLowestGlobal(scores, 7, new bool[6]));
        Assert.Equal("count", e.ParamName);
    }

    /// <summary>
    /// SparseGPT's rule marks every score at or below the one at the rank, and leaves entries marked before it marked
    /// (selected entries are set, others untouched). The rank is an index into the sorted scores: their count is past it.
    /// </summary>
    [Fact]
    public void At_or_below_rank_adds_to_the_mask_and_refuses_a_rank_past_the_last()
    {
        double[] scores = [3, 1, 2, 9];
        bool[] mask = [false, false, false, true];
        MaskSelection.PruneAtOrBelowRank(scores, 1, mask);
        Assert.Equal([false, true, true, true], mask);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MaskSelection.PruneAtOrBelowRank(scores, 4, new bool[4]));
        Assert.Equal("rank", e.ParamName);
    }

    /// <summary>Every k of small arrays full of ties, against a sort: k at either end of a run of the pivot's value included.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Kth_smallest_is_the_sorted_value_at_every_k(int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 200; trial++)
        {
            double[] values = [.. Enumerable.Range(0, rng.Next(1, 12)).Select(_ => (double)rng.Next(0, 5))];
            double[] sorted = [.. values.Order()];
            for (int k = 0; k < values.Length; k++)
            {
                Assert.Equal(sorted[k], Selection.KthSmallest((double[])values.Clone(), k));
            }
        }
        Assert.Equal(2.0, Selection.KthSmallest([3, 1, 2], 1));
    }

    /// <summary>
    /// A group wider than 64 columns is past the one-word bitmap of taken columns: its column 64 is not column 0. Here
    /// 2:65 must take columns 0 and 64, the two lowest.
    /// </summary>
    [Fact]
    public void A_group_wider_than_64_columns_takes_its_own_lowest()
    {
        double[] scores = [.. Enumerable.Repeat(5.0, 65)];
        scores[0] = 0;
        scores[64] = 1;
        var mask = new bool[65];
        MaskSelection.PruneLowestPerGroup(scores, 1, 65, 2, 65, mask);
        Assert.Equal([0, 64], Enumerable.Range(0, 65).Where(i => mask[i]));
    }

    /// <summary>
    /// A matrix of more than 2^20 scores (a 7B linear has 45 million) takes scratch outside the shared pool, which is
    /// not returned to it: the pool refuses an array of a length it never gives out.
    /// </summary>
    [Fact]
    public void More_scores_than_the_pooled_scratch_are_selected_exactly()
    {
        const int n = (1 << 20) + 1;
        double[] scores = [.. Enumerable.Range(0, n).Select(i => (double)((i * 7919L) % n))];
        var mask = new bool[n];
        MaskSelection.PruneLowestGlobal(scores, 1000, mask);
        Assert.Equal(1000, mask.Count(m => m));
        Assert.All(Enumerable.Range(0, n).Where(i => mask[i]), i => Assert.True(scores[i] < 1000));
        var rank = new bool[n];
        MaskSelection.PruneAtOrBelowRank(scores, 999, rank);
        Assert.Equal(mask, rank);
    }

    [Fact]
    public void Shapes_that_do_not_match_are_refused_by_name()
    {
        var fewer = Assert.Throws<PruningShapeException>(() => MaskSelection.PruneLowestPerRow(new double[5], 2, 3, 1, new bool[5]));
        Assert.StartsWith("scores have 5 entries, expected 2×3 = 6", fewer.Message, StringComparison.Ordinal);
        var longer = Assert.Throws<PruningShapeException>(() => MaskSelection.PruneLowestGlobal(new double[6], 1, new bool[7]));
        Assert.StartsWith("mask has 7 entries, expected 6 (one per score)", longer.Message, StringComparison.Ordinal);
        Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(() => MaskSelection.PruneLowestPerGroup([], -1, 0, 2, 4, [])).ParamName);
    }
}
