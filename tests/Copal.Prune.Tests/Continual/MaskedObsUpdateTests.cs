using Copal.Prune.Continual;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// COPAL's update of the kept weights for a given mask (<c>--update</c>) against the optimal-brain-surgeon elimination
/// written out here in double from its definition: the dampened inverse Hessian by Gauss-Jordan elimination, and for
/// each column in turn the pruned entries' error spread over the later columns through the inverse's row, the column
/// then removed from the inverse (the Schur complement). No Cholesky factor is shared with the code under test.
/// </summary>
public sealed class MaskedObsUpdateTests
{
    private const int Rows = 5, Cols = 9;
    private const double PercentDamp = 0.01;

    [Fact]
    public void The_kept_weights_absorb_the_pruned_ones_error_as_the_obs_elimination_gives()
    {
        var rng = new Random(11);
        var weight = new float[Rows * Cols];
        for (int i = 0; i < weight.Length; i++)
        {
            weight[i] = (float)((rng.NextDouble() * 2) - 1);
        }
        float[] hessian = CorrelatedHessian(rng);
        // Every row prunes a different set, the last column among them in some rows (its error has nowhere to go).
        var mask = new bool[Rows * Cols];
        for (int i = 0; i < mask.Length; i++)
        {
            mask[i] = rng.NextDouble() < 0.5;
        }
        mask[Cols - 1] = true;
        mask[(2 * Cols) - 1] = false;

        float[] expected = Reference(weight, mask, hessian);
        float[] actual = (float[])weight.Clone();
        MaskedObsUpdate.Apply(actual, Rows, Cols, mask, hessian, PercentDamp, CancellationToken.None);

        for (int i = 0; i < mask.Length; i++)
        {
            if (mask[i])
            {
                Assert.True(actual[i] == 0f, $"[{i / Cols}, {i % Cols}] is pruned but {actual[i]:R}");
            }
        }
        // Both in double, the factor here another one than the code's: the float results agree to the kernel bound.
        Tolerances.AssertClose(actual, expected, what: "updated weights");
        // And the update did move the kept weights (a mask applied without the update would not pass the line above).
        Assert.Contains(Enumerable.Range(0, weight.Length), i => !mask[i] && Math.Abs(actual[i] - weight[i]) > 1e-3);
    }

    /// <summary>H = XᵀX/n + a common component, so the inputs correlate and the update has something to do.</summary>
    private static float[] CorrelatedHessian(Random rng)
    {
        const int Samples = 40;
        var x = new double[Samples, Cols];
        for (int t = 0; t < Samples; t++)
        {
            double common = (rng.NextDouble() * 2) - 1;
            for (int j = 0; j < Cols; j++)
            {
                x[t, j] = common + (0.5 * ((rng.NextDouble() * 2) - 1));
            }
        }
        var h = new float[Cols * Cols];
        for (int i = 0; i < Cols; i++)
        {
            for (int j = 0; j < Cols; j++)
            {
                double s = 0;
                for (int t = 0; t < Samples; t++)
                {
                    s += x[t, i] * x[t, j];
                }
                h[(i * Cols) + j] = (float)(2 * s / Samples);
            }
        }
        return h;
    }

    private static float[] Reference(float[] weight, bool[] mask, float[] hessian)
    {
        // (H + λI)⁻¹ with λ = PercentDamp × mean diagonal, from the f32 values as stored.
        double mean = Enumerable.Range(0, Cols).Average(j => (double)hessian[(j * Cols) + j]);
        double[] damped = Array.ConvertAll(hessian, v => (double)v);
        for (int j = 0; j < Cols; j++)
        {
            damped[(j * Cols) + j] += PercentDamp * mean;
        }
        double[,] inverse = GaussJordan.Inverse(damped, Cols);
        var result = new float[weight.Length];
        for (int r = 0; r < Rows; r++)
        {
            var hinv = (double[,])inverse.Clone();
            var w = new double[Cols];
            for (int j = 0; j < Cols; j++)
            {
                w[j] = weight[(r * Cols) + j];
            }
            for (int i = 0; i < Cols; i++)
            {
                if (mask[(r * Cols) + i])
                {
                    // δw = −(w_i / [H⁻¹]_ii)·[H⁻¹]_{i,·} over the columns not yet eliminated.
                    double scale = w[i] / hinv[i, i];
                    for (int k = i; k < Cols; k++)
                    {
                        w[k] -= scale * hinv[i, k];
                    }
                }
                // Column i leaves the problem: H⁻¹ ← H⁻¹ − H⁻¹[·, i]·H⁻¹[i, ·] / H⁻¹[i, i].
                double d = hinv[i, i];
                for (int p = i + 1; p < Cols; p++)
                {
                    for (int q = i + 1; q < Cols; q++)
                    {
                        hinv[p, q] -= hinv[p, i] * hinv[i, q] / d;
                    }
                }
            }
            for (int j = 0; j < Cols; j++)
            {
                result[(r * Cols) + j] = mask[(r * Cols) + j] ? 0f : (float)w[j];
            }
        }
        return result;
    }
}
