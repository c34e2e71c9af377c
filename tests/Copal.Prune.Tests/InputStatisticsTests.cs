namespace Copal.Prune.Tests;

public class InputStatisticsTests
{
    [Fact]
    public void Means_equal_the_direct_formula()
    {
        var rng = new Random(5);
        int cols = 6;
        var stats = new InputStatistics(cols, collectHessian: true);
        var all = new List<float[]>();
        var lengths = new[] { 3, 7, 5 };
        foreach (int t in lengths)
        {
            var x = new float[t * cols];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)rng.NextDouble() - 0.5f;
            }
            all.Add(x);
            stats.AddSequence(x, t);
        }
        Assert.Equal(3, stats.Sequences);
        Assert.Equal(15, stats.Tokens);
        for (int i = 0; i < cols; i++)
        {
            double sq = all.Sum(x => Enumerable.Range(0, x.Length / cols).Sum(t => (double)x[t * cols + i] * x[t * cols + i]));
            Assert.Equal(sq / 3, stats.ColumnMeanSquares[i], 1e-14);
            for (int j = 0; j < cols; j++)
            {
                double g = all.Sum(x => Enumerable.Range(0, x.Length / cols).Sum(t => (double)x[t * cols + i] * x[t * cols + j]));
                Assert.Equal(2 * g / 3, stats.Hessian[i * cols + j], 1e-14);
            }
        }
    }

    [Fact]
    public void Precomputed_sums_give_the_same_result_as_raw_inputs()
    {
        float[] x = [1, 2, 3, -1, 0.5f, 2];
        var a = new InputStatistics(3, true);
        a.AddSequence(x, 2);
        var b = new InputStatistics(3, true);
        float[] squares = [2, 4.25f, 13];
        var gram = new float[9];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                gram[i * 3 + j] = x[i] * x[j] + x[3 + i] * x[3 + j];
            }
        }
        b.AddSequence(squares, gram, 2);
        Assert.Equal(a.ColumnMeanSquares.ToArray(), b.ColumnMeanSquares.ToArray());
        Assert.Equal(a.Hessian, b.Hessian);
    }

    [Fact]
    public void Merge_equals_collecting_everything_in_one()
    {
        var rng = new Random(9);
        int cols = 5;
        var whole = new InputStatistics(cols, true);
        var first = new InputStatistics(cols, true);
        var second = new InputStatistics(cols, true);
        for (int s = 0; s < 5; s++)
        {
            var x = new float[4 * cols];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)rng.NextDouble();
            }
            whole.AddSequence(x, 4);
            (s < 2 ? first : second).AddSequence(x, 4);
        }
        first.Merge(second);
        Assert.Equal(whole.Sequences, first.Sequences);
        Assert.Equal(whole.Tokens, first.Tokens);
        for (int i = 0; i < cols; i++)
        {
            Assert.Equal(whole.ColumnMeanSquares[i], first.ColumnMeanSquares[i], 1e-13);
        }
        for (int i = 0; i < cols * cols; i++)
        {
            Assert.Equal(whole.Hessian[i], first.Hessian[i], 1e-13);
        }
        Assert.Throws<PruningShapeException>(() => first.Merge(new InputStatistics(cols + 1, true)));
        Assert.Throws<PruningShapeException>(() => first.Merge(new InputStatistics(cols, false)));
    }

    [Fact]
    public void Wrong_lengths_are_rejected_with_names()
    {
        var stats = new InputStatistics(3, true);
        var e = Assert.Throws<PruningShapeException>(() => stats.AddSequence(new float[3], new float[8], 1));
        Assert.Contains("'gram' has 8 elements, expected 9", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<PruningShapeException>(() => stats.AddSequence(new float[7], 2));
        Assert.Contains("expected 6", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_given_hessian_prunes_exactly_like_the_statistics_it_came_from()
    {
        var rng = new Random(11);
        const int rows = 6, cols = 140;
        var stats = new InputStatistics(cols, true);
        for (int s = 0; s < 3; s++)
        {
            var x = new float[5 * cols];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)((rng.NextDouble() * 2) - 1);
            }
            stats.AddSequence(x, 5);
        }
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)((rng.NextDouble() * 2) - 1);
        }
        InputStatistics given = InputStatistics.FromHessian(stats.Hessian, cols, stats.Sequences);
        Assert.Equal(stats.Hessian, given.Hessian);
        Assert.NotSame(stats.Hessian, given.Hessian);
        Assert.Equal(3, given.Sequences);
        for (int j = 0; j < cols; j++)
        {
            // diag(H)/2 = (1/N)·Σ x_j²: the column mean squares, up to the rounding of the two folds.
            Assert.Equal(stats.ColumnMeanSquares[j], given.ColumnMeanSquares[j], 1e-12);
        }
        foreach (SparsityPattern pattern in new SparsityPattern[] { new SparsityPattern.Unstructured(0.5), new SparsityPattern.NM(2, 4) })
        {
            float[] a = (float[])w.Clone(), b = (float[])w.Clone();
            new SparseGptPruner().Prune(a, rows, cols, stats, pattern);
            new SparseGptPruner().Prune(b, rows, cols, given, pattern);
            Assert.Equal(a, b);
        }
        Assert.Throws<PruningShapeException>(() => InputStatistics.FromHessian(new double[8], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => InputStatistics.FromHessian(new double[9], 3, sequences: 0));
    }
}
