using Copal.Tensors.Sparse;

namespace Copal.Tensors.Tests.Sparse;

public class SparsityAdvisorTests
{
    [Fact]
    public void Measure_counts_zeros_and_checks_patterns()
    {
        byte[] raw = SparseTestMatrices.NM(new Random(3), DType.BF16, 6, 64, 2, 4);
        using var pinned = new PinnedTensor("w", DType.BF16, [6, 64], raw);
        var stats = SparsityAdvisor.Measure(pinned.View);
        float[] w = SparseTestMatrices.Widen(raw, DType.BF16);
        Assert.Equal(w.Count(v => v == 0) / (double)w.Length, stats.Sparsity, 12);
        Assert.True(stats.Valid24);
        Assert.True(stats.Valid48);

        byte[] dense = SparseTestMatrices.Unstructured(new Random(3), DType.F32, 6, 64, 0.0);
        using var pinnedDense = new PinnedTensor("d", DType.F32, [6, 64], dense);
        var denseStats = SparsityAdvisor.Measure(pinnedDense.View);
        Assert.False(denseStats.Valid24);
        Assert.False(denseStats.Valid48);
    }

    [Theory]
    [InlineData(0.10, false, DType.BF16, SparseFormat.Dense)]
    [InlineData(0.95, false, DType.BF16, SparseFormat.Bitmask)]
    [InlineData(0.95, true, DType.F32, SparseFormat.Bitmask)]
    [InlineData(0.20, false, DType.F16, SparseFormat.Dense)]
    [InlineData(0.40, false, DType.BF16, SparseFormat.Dense)]
    [InlineData(0.50, false, DType.BF16, SparseFormat.Bitmask)]
    [InlineData(0.70, false, DType.BF16, SparseFormat.Bitmask)]
    [InlineData(0.60, true, DType.BF16, SparseFormat.NM)]
    [InlineData(0.50, true, DType.F16, SparseFormat.NM)]
    [InlineData(0.95, false, DType.F16, SparseFormat.Dense)]
    public void Choose_follows_the_measured_break_even_points(double sparsity, bool valid24, DType dtype, SparseFormat expected)
    {
        var choice = SparsityAdvisor.Choose(new SparsityStats(sparsity, valid24, valid24), dtype, SparseGemvPath.Avx512);
        Assert.Equal(expected, choice.Format);
        Assert.False(string.IsNullOrEmpty(choice.Reason));
    }

    [Theory]
    [InlineData(DType.BF16, SparseGemvPath.Avx512)]
    [InlineData(DType.F32, SparseGemvPath.Avx512)]
    [InlineData(DType.BF16, SparseGemvPath.Avx2)]
    [InlineData(DType.F32, SparseGemvPath.Avx2)]
    [InlineData(DType.BF16, SparseGemvPath.Scalar)]
    [InlineData(DType.F16, SparseGemvPath.Avx512)]
    [InlineData(DType.F16, SparseGemvPath.Avx2)]
    public void Two_four_is_chosen_exactly_when_it_was_measured_faster_than_dense(DType dtype, SparseGemvPath path)
    {
        var choice = SparsityAdvisor.Choose(new SparsityStats(0.5, true, true), dtype, path);
        SparseFormat expected = path == SparseGemvPath.Avx512 ? SparseFormat.NM : SparseFormat.Dense;
        Assert.Equal(expected, choice.Format);
        if (expected == SparseFormat.NM)
        {
            Assert.Equal((2, 4), (choice.N, choice.M));
        }
    }

    /// <summary>
    /// The least sparsity that pays is below every sparsity at which Choose picks a format, on every path and dtype:
    /// a weight sampled well under it is left unmeasured, so a bound above one of Choose's would skip that format.
    /// </summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void No_format_is_chosen_below_the_least_sparsity_that_pays(DType dtype)
    {
        foreach (SparseGemvPath path in Enum.GetValues<SparseGemvPath>())
        {
            double least = SparsityAdvisor.LeastSparsityThatPays(dtype, path);
            for (int percent = 0; percent <= 100; percent++)
            {
                foreach (bool valid24 in new[] { false, true })
                {
                    double sparsity = percent / 100.0;
                    if (valid24 && sparsity < 0.5)
                    {
                        continue; // a valid 2:4 weight is at least half zeros
                    }
                    SparsityChoice choice = SparsityAdvisor.Choose(new SparsityStats(sparsity, valid24, false), dtype, path);
                    Assert.True(choice.Format == SparseFormat.Dense || sparsity >= least,
                        $"{dtype} on {path}: {choice.Format} chosen at {sparsity:P0}, below the least sparsity that pays, {least:P0}");
                }
            }
        }
    }

    /// <summary>The AVX2 kernels, measured without AVX-512: only the BF16 bitmask from 70% beat dense on every shape.</summary>
    [Theory]
    [InlineData(0.69, DType.BF16, SparseFormat.Dense)]
    [InlineData(0.70, DType.BF16, SparseFormat.Bitmask)]
    [InlineData(0.90, DType.F32, SparseFormat.Dense)]
    public void On_the_avx2_path_only_a_very_sparse_bf16_weight_converts(double sparsity, DType dtype, SparseFormat expected)
    {
        var choice = SparsityAdvisor.Choose(new SparsityStats(sparsity, false, false), dtype, SparseGemvPath.Avx2);
        Assert.Equal(expected, choice.Format);
        Assert.DoesNotContain("∞", choice.Reason, StringComparison.Ordinal);
        Assert.Equal(SparseFormat.Dense, SparsityAdvisor.Choose(new SparsityStats(0.95, true, true), dtype, SparseGemvPath.Scalar).Format);
    }
}
