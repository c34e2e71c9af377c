using Copal.Prune.Continual;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The Hessian estimator's per-column coefficient c_j = 1/[(H + λI)⁻¹]_jj (copal.md), checked against an inverse
/// computed by Gauss-Jordan elimination (<see cref="GaussJordan"/>). The scale-invariance test in
/// <see cref="CopalStateTests"/> holds for any homogeneous c (1/H_jj, [H⁻¹]_jj, 1/U_jj² all pass it); only a value
/// check tells the OBS saliency from those.
/// </summary>
public sealed class HessianSensitivityTests
{
    private const int Rows = 5, Cols = 7, DeadColumn = 4;
    private const double PercentDamp = 0.01;

    [Fact]
    public void The_hessian_coefficient_is_the_reciprocal_of_the_damped_inverse_diagonal_and_zero_for_a_dead_input()
    {
        (float[] w, InputStatistics stats) = Correlated();
        double[] actual = StepSensitivity.NormalizedColumns(w, Rows, Cols, stats, new CopalOptions(SensitivityEstimator.Hessian), CancellationToken.None);

        double[] expected = ReciprocalInverseDiagonal(stats.Hessian.ToArray());
        double norm = StepSensitivity.FrobeniusNorm(w, Rows, Cols, expected);
        Assert.Equal(0, actual[DeadColumn]);
        for (int j = 0; j < Cols; j++)
        {
            double e = expected[j] / norm;
            Assert.InRange(actual[j], e - (Tolerances.KernelRelative * Math.Abs(e)), e + (Tolerances.KernelRelative * Math.Abs(e)));
        }
    }

    /// <summary>SparseGPT's preparation (dead inputs set to 1, then 1% of the mean diagonal added), inverted in double.</summary>
    private static double[] ReciprocalInverseDiagonal(double[] h)
    {
        var dead = new bool[Cols];
        for (int j = 0; j < Cols; j++)
        {
            dead[j] = h[(j * Cols) + j] == 0;
            if (dead[j])
            {
                h[(j * Cols) + j] = 1;
            }
        }
        double mean = Enumerable.Range(0, Cols).Average(j => h[(j * Cols) + j]);
        for (int j = 0; j < Cols; j++)
        {
            h[(j * Cols) + j] += PercentDamp * mean;
        }
        double[,] inv = GaussJordan.Inverse(h, Cols);
        return Enumerable.Range(0, Cols).Select(j => dead[j] ? 0 : 1 / inv[j, j]).ToArray();
    }

    /// <summary>
    /// Inputs whose columns are strongly correlated (so [H⁻¹]_jj is far from 1/H_jj) and one input that is zero on every
    /// token (dead).
    /// </summary>
    private static (float[] Weight, InputStatistics Stats) Correlated()
    {
        var rng = new Random(11);
        var w = new float[Rows * Cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)((rng.NextDouble() * 2) - 1);
        }
        var stats = new InputStatistics(Cols, collectHessian: true);
        const int tokens = 6;
        for (int s = 0; s < 3; s++)
        {
            var x = new float[tokens * Cols];
            for (int t = 0; t < tokens; t++)
            {
                double shared = (rng.NextDouble() * 2) - 1;
                for (int j = 0; j < Cols; j++)
                {
                    x[(t * Cols) + j] = j == DeadColumn ? 0 : (float)(((1 + j) * shared) + (0.3 * ((rng.NextDouble() * 2) - 1)));
                }
            }
            stats.AddSequence(x, tokens);
        }
        return (w, stats);
    }
}
