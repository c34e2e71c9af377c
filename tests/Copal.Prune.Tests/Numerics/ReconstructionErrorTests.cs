namespace Copal.Prune.Tests.Numerics;

/// <summary>
/// The reconstruction error's tiled traces (H's lower triangle, 64-row tiles, 512-long dot slices, 64-row weight
/// chunks) against tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) summed over every (i, j) as written, on shapes that cross each of those
/// edges, within the blocked factorizations' bound against their textbook loops (NumericsTests).
/// </summary>
public sealed class ReconstructionErrorTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(65, 63)]
    [InlineData(64, 64)]
    [InlineData(130, 65)]
    [InlineData(5, 600)]
    [InlineData(70, 1100)]
    public void Equals_the_textbook_traces(int rows, int cols)
    {
        var rng = new Random((rows * 7919) + cols);
        double[] h = RandomSymmetricPositive(cols, rng);
        float[] original = new float[rows * cols], pruned = new float[rows * cols];
        for (int i = 0; i < original.Length; i++)
        {
            original[i] = (float)(rng.NextDouble() - 0.5);
            // Some entries pruned, some moved, some kept as they were, as SparseGPT leaves them.
            double u = rng.NextDouble();
            pruned[i] = u < 0.4 ? 0f : u < 0.8 ? original[i] + (float)((rng.NextDouble() - 0.5) * 0.1) : original[i];
        }
        double numerator = 0, denominator = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < cols; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    double di = (double)pruned[(r * cols) + i] - original[(r * cols) + i];
                    double dj = (double)pruned[(r * cols) + j] - original[(r * cols) + j];
                    numerator += di * h[(i * cols) + j] * dj;
                    denominator += original[(r * cols) + i] * h[(i * cols) + j] * (double)original[(r * cols) + j];
                }
            }
        }
        double expected = numerator / denominator;
        double actual = ReconstructionError.Compute(original, pruned, rows, cols, h, CancellationToken.None);
        Assert.True(Math.Abs(actual - expected) <= 1e-12 * expected, $"{actual:R}, textbook {expected:R}");
    }

    [Fact]
    public void Is_zero_when_nothing_changed_and_infinite_when_the_layer_was_silent()
    {
        double[] h = RandomSymmetricPositive(70, new Random(3));
        float[] w = [.. Enumerable.Range(0, 3 * 70).Select(i => (float)Math.Sin(i))];
        Assert.Equal(0, ReconstructionError.Compute(w, w, 3, 70, h, CancellationToken.None));
        var zeros = new float[w.Length];
        Assert.Equal(0, ReconstructionError.Compute(zeros, zeros, 3, 70, h, CancellationToken.None));
        Assert.Equal(double.PositiveInfinity, ReconstructionError.Compute(zeros, w, 3, 70, h, CancellationToken.None));
    }

    [Fact]
    public void Gives_what_the_row_by_row_traces_gave_on_an_infinite_hessian_entry_or_weight()
    {
        // The traces it replaced summed, per weight row, Δ_i·(H_i·Δ) over the inputs whose Δ_i ≠ 0 and W_i·(H_i·W)
        // over every input, each H row in full. An infinite H_00 with input 0 unpruned: the numerator never reads
        // row 0 (Δ_0 = 0) and stays 1, the denominator is +∞, so the error is 0, not ∞·0 = NaN.
        double[] h = [double.PositiveInfinity, 0.5, 0.5, 1];
        Assert.Equal(0, ReconstructionError.Compute([1f, 1f], [1f, 0f], 1, 2, h, CancellationToken.None));
        // An infinite pruned weight on input 0: Δ = [∞, 0], the numerator ∞·(H_00·∞ + H_01·0) = ∞ and row 1 unread
        // (Δ_1 = 0), the denominator 1: the error is ∞.
        double[] mixed = [1, -0.5, -0.5, 1];
        Assert.Equal(double.PositiveInfinity, ReconstructionError.Compute([1f, 1f], [float.PositiveInfinity, 1f], 1, 2, mixed, CancellationToken.None));
        // A NaN anywhere in H reaches the denominator's full rows: NaN, as before.
        double[] nan = [1, double.NaN, double.NaN, 1];
        Assert.True(double.IsNaN(ReconstructionError.Compute([1f, 1f], [1f, 0f], 1, 2, nan, CancellationToken.None)));
    }

    // XᵀX of n + 3 random rows plus n on the diagonal: symmetric, positive definite, with off-diagonal terms of both signs.
    private static double[] RandomSymmetricPositive(int n, Random rng)
    {
        int tokens = n + 3;
        var x = new double[tokens * n];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (rng.NextDouble() * 2) - 1;
        }
        var h = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int t = 0; t < tokens; t++)
                {
                    s += x[(t * n) + i] * x[(t * n) + j];
                }
                h[(i * n) + j] = s;
                h[(j * n) + i] = s;
            }
            h[(i * n) + i] += n;
        }
        return h;
    }
}
