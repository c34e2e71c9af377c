namespace Copal.Prune.Tests;

/// <summary>
/// Exact target sparsity and valid N:M groups for every method over random shapes, ratios, patterns and
/// inputs full of ties (repeated values, all-zero rows).
/// </summary>
public class PruningPropertyTests
{
    private static readonly IPruningMethod[] s_methods = [new MagnitudePruner(), new WandaPruner(), new SparseGptPruner(new SparseGptOptions(BlockSize: 16))];

    public static TheoryData<int> Seeds => [.. Enumerable.Range(0, 12)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Every_method_prunes_exactly_the_target(int seed)
    {
        var rng = new Random(seed);
        int m = new[] { 4, 8 }[rng.Next(2)];
        int rows = rng.Next(1, 20), cols = m * rng.Next(1, 9);
        bool ties = seed % 3 == 0;
        float[] weight = RandomWeight(rng, rows, cols, ties, zeroRows: false);
        InputStatistics stats = RandomStatistics(rng, cols);
        double ratio = Math.Round(rng.NextDouble() * SparsityPattern.MaxRatio, 3);
        foreach (IPruningMethod method in s_methods)
        {
            float[] w = (float[])weight.Clone();
            var pattern = new SparsityPattern.Unstructured(ratio);
            LinearPruneResult result = method.Prune(w, rows, cols, stats, pattern);
            long expected = method switch
            {
                MagnitudePruner => (long)Math.Floor((double)rows * cols * ratio),
                WandaPruner => rows * (long)Math.Floor(cols * ratio),
                _ => BlockCounts(rows, cols, 16, ratio),
            };
            // SparseGPT's rule takes every saliency tied with its threshold too: with tied weights, at least the count.
            bool atLeast = method is SparseGptPruner && ties;
            Assert.True(atLeast ? result.Zeros >= expected : expected == result.Zeros, $"{method.Name} {rows}×{cols} s={ratio}: {result.Zeros} zeros, expected {(atLeast ? "at least " : "")}{expected}");
            Assert.Equal(result.Zeros, SparsityCheck.CountZeros(w));
            if (method is WandaPruner)
            {
                var perRow = new int[rows];
                SparsityCheck.CountZerosPerRow(w, rows, cols, perRow);
                Assert.All(perRow, z => Assert.Equal((int)Math.Floor(cols * ratio), z));
            }
            if (method is not SparseGptPruner)
            {
                AssertKeptUnchanged(weight, w);
            }
        }
    }

    [Theory]
    [InlineData(2, 4)]
    [InlineData(4, 8)]
    [InlineData(1, 4)]
    [InlineData(3, 8)]
    public void Every_method_makes_valid_NM_groups(int n, int m)
    {
        var rng = new Random(n * 31 + m);
        for (int trial = 0; trial < 4; trial++)
        {
            int rows = rng.Next(1, 12), cols = m * rng.Next(1, 6) * 2;
            float[] weight = RandomWeight(rng, rows, cols, ties: trial % 2 == 0, zeroRows: false);
            InputStatistics stats = RandomStatistics(rng, cols);
            foreach (IPruningMethod method in s_methods)
            {
                float[] w = (float[])weight.Clone();
                LinearPruneResult result = method.Prune(w, rows, cols, stats, new SparsityPattern.NM(n, m));
                SparsityCheck.ValidateNM(w, rows, cols, n, m);
                Assert.Equal((long)rows * cols / m * n, result.Zeros);
            }
        }
    }

    [Fact]
    public void All_zero_rows_and_equal_weights_keep_counts_exact()
    {
        var rng = new Random(7);
        int rows = 9, cols = 24;
        float[] weight = RandomWeight(rng, rows, cols, ties: true, zeroRows: true);
        int existingZeros = SparsityCheck.CountZeros(weight);
        InputStatistics stats = RandomStatistics(rng, cols);

        float[] w = (float[])weight.Clone();
        new WandaPruner().Prune(w, rows, cols, stats, new SparsityPattern.Unstructured(0.5));
        var perRow = new int[rows];
        SparsityCheck.CountZerosPerRow(w, rows, cols, perRow);
        for (int r = 0; r < rows; r++)
        {
            int before = SparsityCheck.CountZeros(weight.AsSpan(r * cols, cols));
            // Zeros score lowest, so a row keeps max(its zeros, the target) zeros.
            Assert.Equal(Math.Max(before, cols / 2), perRow[r]);
        }

        w = (float[])weight.Clone();
        new MagnitudePruner().Prune(w, rows, cols, null, new SparsityPattern.Unstructured(0.3));
        Assert.Equal(Math.Max(existingZeros, (int)Math.Floor(rows * cols * 0.3)), SparsityCheck.CountZeros(w));
    }

    [Fact]
    public void Equal_scores_are_pruned_in_column_order()
    {
        float[] w = [1, 1, 1, 1, 1, 1, 1, 1];
        new MagnitudePruner().Prune(w, 1, 8, null, new SparsityPattern.Unstructured(0.5));
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], w);
        w = [3, 3, 3, 3, 2, 2, 2, 2];
        new MagnitudePruner().Prune(w, 1, 8, null, new SparsityPattern.NM(2, 4));
        Assert.Equal([0, 0, 3, 3, 0, 0, 2, 2], w);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Wanda_refuses_non_finite_input_statistics_naming_the_column(double value)
    {
        // A NaN score matches nothing in the selection, so a row would silently keep weights it was asked to prune.
        var h = new double[8 * 8];
        for (int j = 0; j < 8; j++)
        {
            h[(j * 8) + j] = 2;
        }
        h[(5 * 8) + 5] = value;
        float[] w = RandomWeight(new Random(4), 3, 8, ties: false, zeroRows: false);
        var e = Assert.Throws<ArgumentException>(() => new WandaPruner().Prune(w, 3, 8, InputStatistics.FromHessian(h, 8), new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("column 5", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zero_ratio_changes_nothing_for_any_method()
    {
        // SparseGPT's reference rule would prune each block's lowest saliency even at 0 (sorted index 0); Copal prunes
        // nothing, and with nothing pruned there is no error to propagate, so the weights come back bit for bit.
        var rng = new Random(3);
        float[] weight = RandomWeight(rng, 5, 40, ties: false, zeroRows: false);
        InputStatistics stats = RandomStatistics(rng, 40);
        foreach (IPruningMethod method in s_methods)
        {
            float[] w = (float[])weight.Clone();
            LinearPruneResult result = method.Prune(w, 5, 40, stats, new SparsityPattern.Unstructured(0));
            Assert.Equal(weight, w);
            Assert.Equal(0, result.Zeros);
        }
    }

    /// <summary>
    /// What SparseGPT's reference rule prunes of untied saliencies: a block's entries at or below the one at sorted index
    /// ⌊size·s⌋, so ⌊size·s⌋ + 1 a block (none at sparsity 0).
    /// </summary>
    internal static long BlockCounts(int rows, int cols, int block, double ratio)
    {
        long total = 0;
        for (int i1 = 0; ratio > 0 && i1 < cols; i1 += block)
        {
            total += (long)Math.Floor((double)rows * Math.Min(block, cols - i1) * ratio) + 1;
        }
        return total;
    }

    internal static float[] RandomWeight(Random rng, int rows, int cols, bool ties, bool zeroRows)
    {
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++)
        {
            // Ties: values from a tiny set (with both signs), so many |W| and scores are equal.
            float v = ties ? rng.Next(1, 4) * 0.5f : (float)(rng.NextDouble() + 0.01);
            w[i] = rng.Next(2) == 0 ? v : -v;
        }
        if (zeroRows)
        {
            for (int r = 0; r < rows; r += 3)
            {
                w.AsSpan(r * cols, cols).Clear();
            }
        }
        return w;
    }

    internal static InputStatistics RandomStatistics(Random rng, int cols)
    {
        var stats = new InputStatistics(cols, collectHessian: true);
        for (int s = 0; s < 3; s++)
        {
            int tokens = rng.Next(4, 12);
            var x = new float[tokens * cols];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)(rng.NextDouble() * 2 - 1);
            }
            stats.AddSequence(x, tokens);
        }
        return stats;
    }

    private static void AssertKeptUnchanged(float[] before, float[] after)
    {
        for (int i = 0; i < before.Length; i++)
        {
            Assert.True(after[i] == 0f || after[i] == before[i], $"entry {i} changed from {before[i]} to {after[i]}");
        }
    }
}
