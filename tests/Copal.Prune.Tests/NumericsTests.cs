using Copal.Prune.Numerics;

namespace Copal.Prune.Tests;

/// <summary>The blocked factorizations against plain textbook loops, on sizes that cross every tile and panel edge.</summary>
public class NumericsTests
{
    public static TheoryData<int> Sizes => [1, 2, 7, 63, 64, 65, 97, 130, 200];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Blocked_cholesky_matches_the_scalar_one(int n)
    {
        double[] a = RandomSpd(n, seed: n);
        double[] upper = (double[])a.Clone();
        double[] expected = NaiveCholesky(a, n);
        double[] work = (double[])a.Clone();
        Assert.Equal(-1, Cholesky.FactorLower(work, n, CancellationToken.None));
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (j <= i)
                {
                    Assert.Equal(expected[i * n + j], work[i * n + j], 1e-12 * Math.Abs(expected[i * n + i]) + 1e-13);
                }
                else
                {
                    Assert.Equal(upper[i * n + j], work[i * n + j]); // strict upper triangle untouched
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Inverse_factor_satisfies_UtU_times_H_is_identity(int n)
    {
        double[] h = RandomSpd(n, seed: 100 + n);
        double[] original = (double[])h.Clone();
        (double[] u, double percent) = InverseHessianFactor.Compute(h, n, new SparseGptOptions(PercentDamp: 0), CancellationToken.None);
        Assert.Equal(0, percent);
        // U upper with a positive diagonal, and (UᵀU)·H = I.
        for (int i = 0; i < n; i++)
        {
            Assert.True(u[i * n + i] > 0);
            for (int j = 0; j < i; j++)
            {
                Assert.Equal(0, u[i * n + j]);
            }
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++)
                {
                    double inv = 0;
                    for (int p = 0; p <= Math.Min(i, k); p++)
                    {
                        inv += u[p * n + i] * u[p * n + k];
                    }
                    s += inv * original[k * n + j];
                }
                Assert.Equal(i == j ? 1.0 : 0.0, s, 1e-9);
            }
            if (n > 70 && i > 3)
            {
                break; // the first rows suffice for the big sizes: this check is O(n³) per row
            }
        }
    }

    [Fact]
    public void Singular_matrix_fails_then_dampening_rescues_it()
    {
        int n = 12;
        double[] h = new double[n * n];
        var rng = new Random(4);
        var v = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                h[i * n + j] = v[i] * v[j]; // rank one
            }
        }
        Assert.NotEqual(-1, Cholesky.FactorLower((double[])h.Clone(), n, CancellationToken.None));
        (_, double percent) = InverseHessianFactor.Compute(h, n, new SparseGptOptions(PercentDamp: 0), CancellationToken.None);
        Assert.Equal(0.1, percent, 1e-15);
    }

    [Fact]
    public void A_pivot_left_with_a_few_digits_of_its_diagonal_fails_and_dampening_rescues_it()
    {
        // [[1, 1−ε], [1−ε, 1]]: the second pivot is 1 − (1−ε)² ≈ 2ε = 2e-14 of its diagonal, positive but below
        // Cholesky.PivotRelativeTolerance: numerically singular, so refused rather than inverted into noise.
        const double Epsilon = 1e-14;
        double[] h = [1, 1 - Epsilon, 1 - Epsilon, 1];
        double pivot = 1 - ((1 - Epsilon) * (1 - Epsilon));
        Assert.InRange(pivot, double.Epsilon, Cholesky.PivotRelativeTolerance);
        Assert.Equal(1, Cholesky.FactorLower((double[])h.Clone(), 2, CancellationToken.None));
        var options = new SparseGptOptions(PercentDamp: 0);
        (_, double percent) = InverseHessianFactor.Compute(h, 2, options, CancellationToken.None);
        Assert.Equal(options.DampFor(1), percent); // the first retry's dampening
    }

    [Fact]
    public void Blocked_triangular_inverse_matches_forward_substitution_across_its_sum_chunks()
    {
        // 600 columns: the sums before a row block run in depth chunks of 128 columns, so the later blocks take up to five.
        const int N = 600;
        var rng = new Random(7);
        var l = new double[N * N];
        for (int i = 0; i < N; i++)
        {
            // A dominant diagonal keeps L⁻¹ well conditioned: its entries stay O(1).
            l[(i * N) + i] = 1 + rng.NextDouble();
            for (int k = 0; k < i; k++)
            {
                l[(i * N) + k] = ((rng.NextDouble() * 2) - 1) / N;
            }
        }
        var z = new double[N * N];
        TriangularInverse.InvertTransposed(l, N, z, CancellationToken.None);
        // Row j of Z = column j of L⁻¹: Z[j, i] = (δ_ij − Σ_{j≤k<i} L[i, k]·Z[j, k]) / L[i, i], term by term.
        var row = new double[N];
        // Both sum in double, in other orders; bounded as SparseGPT against its reference (relative to the entry, with
        // a floor at 1e-3 of the largest, as the deep entries of L⁻¹ are tiny).
        double floor = 1e-3 * z.Max(Math.Abs);
        for (int j = 0; j < N; j++)
        {
            ForwardSubstitution(l, N, j, row);
            for (int i = 0; i < N; i++)
            {
                double bound = PruningTolerances.SparseGptRelative * (Math.Abs(row[i]) + floor);
                if (!(Math.Abs(z[(j * N) + i] - row[i]) <= bound))
                {
                    Assert.Fail($"Z[{j}, {i}] = {z[(j * N) + i]:R}, expected {row[i]:R}");
                }
            }
        }
    }

    /// <summary>Row j of Z = L⁻ᵀ (column j of L⁻¹) into <paramref name="row"/>, term by term: Z[j, i] = (δ_ij − Σ_{j≤k&lt;i} L[i, k]·Z[j, k]) / L[i, i].</summary>
    internal static void ForwardSubstitution(double[] l, int n, int j, double[] row)
    {
        Array.Clear(row);
        for (int i = j; i < n; i++)
        {
            double s = i == j ? 1.0 : 0.0;
            for (int k = j; k < i; k++)
            {
                s -= l[(i * n) + k] * row[k];
            }
            row[i] = s / l[(i * n) + i];
        }
    }

    internal static double[] RandomSpd(int n, int seed)
    {
        var rng = new Random(seed);
        int k = n + 3;
        var x = new double[k * n];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.NextDouble() * 2 - 1;
        }
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++)
                {
                    s += x[t * n + i] * x[t * n + j];
                }
                a[i * n + j] = s + (i == j ? 0.1 : 0);
            }
        }
        return a;
    }

    internal static double[] NaiveCholesky(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++)
            {
                d -= l[j * n + k] * l[j * n + k];
            }
            l[j * n + j] = Math.Sqrt(d);
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++)
                {
                    s -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = s / l[j * n + j];
            }
        }
        return l;
    }
}
