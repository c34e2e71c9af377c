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

    private static double[] RandomSpd(int n, int seed)
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

    private static double[] NaiveCholesky(double[] a, int n)
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
