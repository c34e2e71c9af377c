namespace Copal.Prune.Tests;

public class MaskSelectionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Per_row_and_global_equal_a_stable_sort(int seed)
    {
        var rng = new Random(seed);
        int rows = rng.Next(1, 8), cols = rng.Next(1, 50);
        // Few distinct values: ties everywhere.
        double[] scores = Enumerable.Range(0, rows * cols).Select(_ => (double)rng.Next(0, 4)).ToArray();
        int perRow = rng.Next(0, cols + 1);
        var mask = new bool[rows * cols];
        MaskSelection.PruneLowestPerRow(scores, rows, cols, perRow, mask);
        for (int r = 0; r < rows; r++)
        {
            var expected = new bool[cols];
            foreach (int j in Enumerable.Range(0, cols).OrderBy(j => scores[r * cols + j]).Take(perRow))
            {
                expected[j] = true; // LINQ OrderBy is a stable sort
            }
            Assert.Equal(expected, mask.AsSpan(r * cols, cols).ToArray());
        }

        long count = rng.Next(0, rows * cols + 1);
        var global = new bool[rows * cols];
        MaskSelection.PruneLowestGlobal(scores, count, global);
        var expectedGlobal = new bool[rows * cols];
        foreach (int i in Enumerable.Range(0, rows * cols).OrderBy(i => scores[i]).Take((int)count))
        {
            expectedGlobal[i] = true;
        }
        Assert.Equal(expectedGlobal, global);
    }

    [Fact]
    public void Per_group_picks_n_lowest_lower_index_first()
    {
        double[] scores = [5, 1, 1, 3, /**/ 2, 2, 2, 2, /**/ 0, 9, 0, 9];
        var mask = new bool[12];
        MaskSelection.PruneLowestPerGroup(scores, 1, 12, 2, 4, mask);
        Assert.Equal([false, true, true, false, true, true, false, false, true, false, true, false], mask);
    }

    [Fact]
    public void Selection_handles_sorted_and_constant_inputs()
    {
        double[] sorted = Enumerable.Range(0, 1000).Select(i => (double)i).ToArray();
        Assert.Equal(437, Selection.KthSmallest((double[])sorted.Clone(), 437));
        Assert.Equal(7.0, Selection.KthSmallest(Enumerable.Repeat(7.0, 999).ToArray(), 500));
    }

    [Fact]
    public void Sparsity_check_names_row_and_group()
    {
        float[] w = [0, 0, 1, 1, /**/ 0, 1, 1, 0, /**/ 0, 0, 1, 1, /**/ 1, 0, 1, 1];
        var e = Assert.Throws<SparsityViolationException>(() => SparsityCheck.ValidateNM(w, 2, 8, 2, 4));
        Assert.Equal(1, e.Row);
        Assert.Equal(1, e.Group);
        Assert.Contains("row 1, group 1 (columns 4..7) has 1 zeros, expected at least 2 for 2:4", e.Message, StringComparison.Ordinal);
        var perRow = new int[2];
        SparsityCheck.CountZerosPerRow(w, 2, 8, perRow);
        Assert.Equal([4, 3], perRow);
        Assert.Equal(0, Assert.Throws<SparsityViolationException>(() => SparsityCheck.ValidatePerRow(w, 2, 8, 5)).Row);
    }

    [Theory]
    [InlineData(Copal.Tensors.DType.F32)]
    [InlineData(Copal.Tensors.DType.BF16)]
    [InlineData(Copal.Tensors.DType.F16)]
    public void Stored_zeros_are_counted_in_the_tensors_dtype_with_both_signs(Copal.Tensors.DType dtype)
    {
        // Long enough for whole vectors and a tail; every seventh value +0, every eleventh −0, the rest tiny but not zero.
        const int N = 1000;
        var values = new float[N];
        long expected = 0;
        for (int i = 0; i < N; i++)
        {
            values[i] = i % 7 == 0 ? 0f : i % 11 == 0 ? -0f : (i % 2 == 0 ? 1e-3f : -2.5f);
            expected += i % 7 == 0 || i % 11 == 0 ? 1 : 0;
        }
        using var tensor = new Copal.Tensors.NativeTensor("w", dtype, [N]);
        Copal.Tensors.Numerics.WeightEncoding.Encode(values, dtype, tensor.Bytes);
        Assert.Equal(expected, SparsityCheck.CountZeros(tensor.View));
    }
}
