using Copal.Prune.Numerics;

namespace Copal.Prune.Continual;

/// <summary>
/// One dataset's sensitivity of one linear layer, in the compact per-column form. Both estimators factor as
/// s_ij = w_ij²·c_j with a per-input-column coefficient c_j (E[x_j²] for the output estimator, 1/[H⁻¹]_jj for the
/// Hessian one). Because COPAL always scores the same dense parent W, the normalized sensitivity
/// ŝ = s/‖s‖_F is w_ij²·(c_j/‖s‖_F): the vector ĉ = c/‖s‖_F is all a step contributes to the state.
/// ‖s‖_F² = Σ_j c_j²·Σ_i w_ij⁴ is computed from W's column sums of fourth powers, without forming s.
/// </summary>
internal static class StepSensitivity
{
    /// <summary>ĉ [cols] for <paramref name="weight"/> [rows, cols] (dense) and this dataset's <paramref name="stats"/>.</summary>
    public static double[] NormalizedColumns(ReadOnlySpan<float> weight, int rows, int cols, InputStatistics stats, CopalOptions options, CancellationToken cancellationToken)
    {
        double[] c = options.Sensitivity == SensitivityEstimator.Output
            ? stats.ColumnMeanSquares.ToArray()
            : ObsColumns(stats.Hessian, cols, options.PercentDamp, cancellationToken);
        return Normalized(weight, rows, cols, c);
    }

    /// <summary>ĉ = c/‖s‖_F for <paramref name="weight"/> [rows, cols] (dense), in place in <paramref name="c"/>.</summary>
    internal static double[] Normalized(ReadOnlySpan<float> weight, int rows, int cols, double[] c)
    {
        double norm = FrobeniusNorm(weight, rows, cols, c);
        if (norm > 0 && double.IsFinite(norm))
        {
            for (int j = 0; j < cols; j++)
            {
                c[j] /= norm;
            }
        }
        else
        {
            // No input energy at all (or a degenerate layer): this dataset says nothing about the layer.
            Array.Clear(c);
        }
        return c;
    }

    /// <summary>‖s‖_F for s_ij = w_ij²·c_j.</summary>
    internal static double FrobeniusNorm(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<double> c)
    {
        var fourth = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = weight.Slice(r * cols, cols);
            for (int j = 0; j < cols; j++)
            {
                double w2 = (double)row[j] * row[j];
                fourth[j] += w2 * w2;
            }
        }
        double sum = 0;
        for (int j = 0; j < cols; j++)
        {
            sum += c[j] * c[j] * fourth[j];
        }
        return Math.Sqrt(sum);
    }

    /// <summary>c_j = 1/[(H + λI)⁻¹]_jj, with [H⁻¹]_jj = Σ_k U_kj² from SparseGPT's factor U; dead inputs get 0.</summary>
    internal static double[] ObsColumns(double[] hessian, int cols, double percentDamp, CancellationToken cancellationToken)
    {
        SweepFactor factor = SweepFactor.Compute((double[])hessian.Clone(), cols, new SparseGptOptions(PercentDamp: percentDamp), cancellationToken);
        double[] u = factor.U;
        bool[] dead = factor.Dead;
        var c = new double[cols];
        for (int k = 0; k < cols; k++)
        {
            ReadOnlySpan<double> uk = u.AsSpan(k * cols, cols);
            // U is upper triangular: row k contributes to columns j ≥ k.
            for (int j = k; j < cols; j++)
            {
                c[j] += uk[j] * uk[j];
            }
        }
        for (int j = 0; j < cols; j++)
        {
            c[j] = dead[j] || c[j] <= 0 ? 0 : 1.0 / c[j];
        }
        return c;
    }
}
