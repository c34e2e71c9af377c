using Copal.Prune.Numerics;

namespace Copal.Prune.Tests;

/// <summary>
/// The double register tile and the factorizations built on it: the tile against fused multiply-adds in ascending k
/// (its documented arithmetic, so to the bit), both SIMD widths agreeing to the bit, and the factorizations at sizes
/// that are multiples of no tile (12, 16), panel (128) or block (64), plus failing pivots past the first panel.
/// </summary>
public unsafe class DoubleKernelTests
{
    public static TheoryData<int> OddSizes => [1, 2, 11, 12, 13, 63, 64, 65, 97, 127, 128, 129, 145, 200, 271, 513];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(300)]
    public void Tile_is_fused_multiply_adds_in_ascending_depth_on_both_widths(int kc)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR, Ldc = NR + 5;
        var rng = new Random(kc);
        double[] a = Random(rng, MR * kc), b = Random(rng, NR * kc), c0 = Random(rng, MR * Ldc);
        var expected = (double[])c0.Clone();
        for (int i = 0; i < MR; i++)
        {
            for (int j = 0; j < NR; j++)
            {
                for (int k = 0; k < kc; k++)
                {
                    expected[(i * Ldc) + j] = Math.FusedMultiplyAdd(a[(k * MR) + i], b[(k * NR) + j], expected[(i * Ldc) + j]);
                }
            }
        }
        foreach (bool wide in new[] { true, false })
        {
            var c = (double[])c0.Clone();
            fixed (double* pa = a, pb = b, pc = c)
            {
                DoubleMicroKernel.Run(pa, pb, kc, pc, Ldc, wide);
            }
            Assert.Equal(expected, c); // also the padding columns past NR, untouched
        }
    }

    [Theory]
    [InlineData(12, 16, 16)] // whole tile through the edge path
    [InlineData(5, 9, 16)] // cut by both edges
    [InlineData(12, 16, -3)] // the diagonal crosses: row i keeps columns ≤ i − 3
    [InlineData(7, 16, 4)]
    public void Edge_tile_writes_only_the_kept_elements_with_the_full_tiles_arithmetic(int rows, int cols, int lastColumnOfRow0)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR, Kc = 37;
        var rng = new Random(rows * 100 + cols);
        double[] a = Random(rng, MR * Kc), b = Random(rng, NR * Kc), c0 = Random(rng, MR * NR);
        var full = (double[])c0.Clone();
        var edge = (double[])c0.Clone();
        fixed (double* pa = a, pb = b, pf = full, pe = edge)
        {
            DoubleMicroKernel.Run(pa, pb, Kc, pf, NR, wide: true);
            DoubleMicroKernel.RunEdge(pa, pb, Kc, pe, NR, rows, cols, lastColumnOfRow0, wide: true);
        }
        for (int i = 0; i < MR; i++)
        {
            for (int j = 0; j < NR; j++)
            {
                bool kept = i < rows && j < cols && j <= lastColumnOfRow0 + i;
                Assert.Equal(kept ? full[(i * NR) + j] : c0[(i * NR) + j], edge[(i * NR) + j]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(OddSizes))]
    public void Cholesky_matches_textbook_loops_and_is_the_same_on_both_widths(int n)
    {
        double[] a = NumericsTests.RandomSpd(n, seed: 7 * n);
        double[] expected = NumericsTests.NaiveCholesky(a, n);
        double[] wide = (double[])a.Clone(), narrow = (double[])a.Clone();
        Assert.Equal(-1, Cholesky.FactorLower(wide, n, CancellationToken.None));
        Assert.Equal(-1, Cholesky.FactorLower(narrow, n, CancellationToken.None, wide: false));
        Assert.Equal(wide, narrow);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double actual = wide[(i * n) + j], e = j <= i ? expected[(i * n) + j] : a[(i * n) + j];
                double bound = j <= i ? PruningTolerances.SparseGptRelative * (Math.Abs(e) + Math.Abs(expected[(i * n) + i])) : 0;
                if (!(Math.Abs(actual - e) <= bound))
                {
                    Assert.Fail($"n = {n}: L[{i}, {j}] = {actual:R}, expected {e:R}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(12, 11)]
    [InlineData(200, 5)]
    [InlineData(200, 127)]
    [InlineData(200, 128)] // the first column of the second panel
    [InlineData(271, 200)]
    public void A_failing_pivot_is_reported_at_the_column_the_textbook_loop_fails(int n, int column)
    {
        double[] a = SingularAt(n, column);
        Assert.Equal(ScalarFailure(a, n), Cholesky.FactorLower((double[])a.Clone(), n, CancellationToken.None));
        Assert.Equal(column, Cholesky.FactorLower((double[])a.Clone(), n, CancellationToken.None, wide: false));
    }

    [Theory]
    [InlineData(200, 150)] // after the first panel's update
    [InlineData(271, 260)] // after two
    public void A_retry_after_a_failed_factor_starts_from_H_and_gives_a_fresh_starts_U_to_the_bit(int n, int column)
    {
        // InverseHessianFactor factors P·H·P (P the reversal), so H = P·A·P fails at A's column.
        double[] a = SingularAt(n, column);
        var h = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                h[(i * n) + j] = a[((n - 1 - i) * n) + (n - 1 - j)];
            }
        }
        double[] failed = (double[])a.Clone();
        Assert.Equal(column, Cholesky.FactorLower(failed, n, CancellationToken.None));
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                Assert.Equal(a[(i * n) + j], failed[(i * n) + j]); // the strict upper triangle a retry reads
            }
        }
        (double[] retried, double percent) = InverseHessianFactor.Compute((double[])h.Clone(), n, new SparseGptOptions(PercentDamp: 0), CancellationToken.None);
        Assert.True(percent > 0);
        (double[] fresh, double freshPercent) = InverseHessianFactor.Compute((double[])h.Clone(), n, new SparseGptOptions(PercentDamp: percent), CancellationToken.None);
        Assert.Equal(percent, freshPercent);
        Assert.Equal(fresh, retried);
    }

    // A random SPD matrix whose column `column` (and row) is a combination of the ones before it (or zero): singular
    // there and only there, so the textbook loop's first failing pivot is that column.
    private static double[] SingularAt(int n, int column)
    {
        double[] a = NumericsTests.RandomSpd(n, seed: n + column);
        var rng = new Random(column);
        var weights = Random(rng, column);
        var combined = new double[n];
        for (int k = 0; k < column; k++)
        {
            for (int i = 0; i < n; i++)
            {
                combined[i] += weights[k] * a[(i * n) + k];
            }
        }
        // Replace row and column `column` by those of v = Σ w_k e_k applied to H: H' = Sᵀ H S for the substitution S.
        double self = 0;
        for (int k = 0; k < column; k++)
        {
            self += weights[k] * combined[k];
        }
        for (int i = 0; i < n; i++)
        {
            a[(i * n) + column] = combined[i];
            a[(column * n) + i] = combined[i];
        }
        a[(column * n) + column] = self;
        return a;
    }

    [Theory]
    [MemberData(nameof(OddSizes))]
    public void Triangular_inverse_matches_forward_substitution_and_is_the_same_on_both_widths(int n)
    {
        double[] l = NumericsTests.NaiveCholesky(NumericsTests.RandomSpd(n, seed: 3 * n), n);
        var wide = new double[n * n];
        var narrow = new double[n * n];
        TriangularInverse.InvertTransposed(l, n, wide, CancellationToken.None);
        TriangularInverse.InvertTransposed(l, n, narrow, CancellationToken.None, wide: false);
        Assert.Equal(wide, narrow);
        double floor = 1e-3 * wide.Max(Math.Abs);
        var row = new double[n];
        for (int j = 0; j < n; j++)
        {
            NumericsTests.ForwardSubstitution(l, n, j, row);
            for (int i = 0; i < n; i++)
            {
                double actual = wide[(j * n) + i];
                if (i < j ? actual != 0 : !(Math.Abs(actual - row[i]) <= PruningTolerances.SparseGptRelative * (Math.Abs(row[i]) + floor)))
                {
                    Assert.Fail($"n = {n}: Z[{j}, {i}] = {actual:R}, expected {row[i]:R}");
                }
            }
        }
    }

    // Sizes past two and three spans of the inverse's product (256 columns), with partial blocks and tiles.
    public static TheoryData<int> SpanSizes => [1, 13, 65, 200, 255, 256, 257, 271, 320, 513, 601];

    [Theory]
    [MemberData(nameof(SpanSizes))]
    public void Triangular_inverse_is_one_ascending_chain_of_fused_multiply_adds_then_the_in_block_substitution_to_the_bit(int n)
    {
        // The arithmetic the inverse documents, as plain loops: Z[j, i] starts at +0, takes fma(Z[j, k], −L[i, k], ·) for
        // k from j to the start i0 of i's 64-column block in ascending order, then the substitution inside the block.
        // However the product is split into tiles, chunks and spans, every element must come out to this bit.
        const int Block = 64;
        double[] l = NumericsTests.NaiveCholesky(NumericsTests.RandomSpd(n, seed: 5 * n), n);
        var expected = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            int i0 = i / Block * Block;
            for (int j = 0; j <= i; j++)
            {
                double c = 0;
                for (int k = j; k < i0; k++)
                {
                    c = Math.FusedMultiplyAdd(expected[(j * n) + k], -l[(i * n) + k], c);
                }
                int start = Math.Max(i0, j);
                fixed (double* li = &l[(i * n) + start], zj = &expected[(j * n) + start])
                {
                    c = (i == j ? 1.0 : 0.0) + c - DotTile.Dot(li, zj, i - start);
                }
                expected[(j * n) + i] = c / l[(i * n) + i];
            }
        }
        var actual = new double[n * n];
        TriangularInverse.InvertTransposed(l, n, actual, CancellationToken.None);
        for (int k = 0; k < n * n; k++)
        {
            if (BitConverter.DoubleToInt64Bits(actual[k]) != BitConverter.DoubleToInt64Bits(expected[k]))
            {
                Assert.Fail($"n = {n}: Z[{k / n}, {k % n}] = {actual[k]:R}, expected {expected[k]:R}");
            }
        }
    }

    // The first column whose pivot the textbook loop finds at or below Cholesky's relative tolerance.
    private static int ScalarFailure(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = a[(j * n) + j];
            for (int k = 0; k < j; k++)
            {
                d -= l[(j * n) + k] * l[(j * n) + k];
            }
            if (!(d > Cholesky.PivotRelativeTolerance * a[(j * n) + j]))
            {
                return j;
            }
            l[(j * n) + j] = Math.Sqrt(d);
            for (int i = j + 1; i < n; i++)
            {
                double s = a[(i * n) + j];
                for (int k = 0; k < j; k++)
                {
                    s -= l[(i * n) + k] * l[(j * n) + k];
                }
                l[(i * n) + j] = s / l[(j * n) + j];
            }
        }
        return -1;
    }

    private static double[] Random(Random rng, int count)
    {
        var x = new double[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (rng.NextDouble() * 2) - 1;
        }
        return x;
    }
}
