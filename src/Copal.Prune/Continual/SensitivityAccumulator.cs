namespace Copal.Prune.Continual;

/// <summary>
/// The accumulation rules of the sensitivity state. They act on the per-column vectors directly: since
/// s_ij = w_ij²·c_j with the same w_ij ≥ 0 factor at every step, Σ_t and max_t of s_ij are w_ij² times Σ_t and
/// max_t of c_j, so the compact state loses nothing.
/// </summary>
public static class SensitivityAccumulator
{
    /// <summary>
    /// Folds a step's normalized column sensitivity <paramref name="step"/> into <paramref name="accumulated"/>:
    /// sum: S ← γ·S + ŝ; max: S ← max(γ·S, ŝ). On the first step (<paramref name="first"/>) S ← ŝ.
    /// </summary>
    public static void Fold(Span<double> accumulated, ReadOnlySpan<double> step, SensitivityAccumulation mode, double decay, bool first)
    {
        if (accumulated.Length != step.Length)
        {
            throw new PruningShapeException($"sensitivity state has {accumulated.Length} columns, the step {step.Length}", nameof(step));
        }
        if (first)
        {
            step.CopyTo(accumulated);
            return;
        }
        for (int j = 0; j < accumulated.Length; j++)
        {
            double past = decay * accumulated[j];
            accumulated[j] = mode == SensitivityAccumulation.Sum ? past + step[j] : Math.Max(past, step[j]);
        }
    }

    /// <summary>
    /// The Hessian used with <see cref="SensitivityAccumulation.Max"/>: <paramref name="accumulated"/> (the sum of the
    /// normalized Hessians, as stored) congruently rescaled, H' = D·H·D with D_j = √(S_j / H_jj), so its diagonal is
    /// the per-column maximum <paramref name="columns"/> while the correlations between inputs stay those of all
    /// datasets together. D·H·D is positive semi-definite whenever H is, which an element-wise max of Hessians need not
    /// be. OBS is invariant to a global scale of H, so S's own normalization does not matter. Returns a new array; a
    /// diagonal-only Hessian (length cols) becomes <paramref name="columns"/> itself.
    /// </summary>
    public static float[] MaxDiagonalHessian(float[] accumulated, ReadOnlySpan<double> columns, int cols)
    {
        var result = new float[accumulated.LongLength];
        if (accumulated.LongLength == cols)
        {
            for (int j = 0; j < cols; j++)
            {
                result[j] = (float)columns[j];
            }
            return result;
        }
        var d = new double[cols];
        for (int j = 0; j < cols; j++)
        {
            double h = accumulated[((long)j * cols) + j];
            d[j] = h > 0 && columns[j] > 0 ? Math.Sqrt(columns[j] / h) : 0;
        }
        for (int i = 0; i < cols; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                long k = ((long)i * cols) + j;
                result[k] = (float)(d[i] * accumulated[k] * d[j]);
            }
        }
        return result;
    }

    /// <summary>
    /// Folds a step's Hessian, normalized to a mean diagonal of 1 so no dataset dominates through its activation
    /// scale, into the accumulated one (f32, as stored): H ← γ·H + Ĥ_t, for both modes (an element-wise max of
    /// Hessians need not be positive semi-definite). With <paramref name="diagonalOnly"/> both are [cols].
    /// </summary>
    public static void FoldHessian(float[] accumulated, double[] stepHessian, int cols, double decay, bool first, bool diagonalOnly)
    {
        double mean = 0;
        for (int j = 0; j < cols; j++)
        {
            mean += stepHessian[((long)j * cols) + j];
        }
        mean /= cols;
        double scale = mean > 0 ? 1.0 / mean : 0;
        if (diagonalOnly)
        {
            for (int j = 0; j < cols; j++)
            {
                double v = stepHessian[((long)j * cols) + j] * scale;
                accumulated[j] = (float)(first ? v : decay * accumulated[j] + v);
            }
            return;
        }
        for (long i = 0; i < accumulated.LongLength; i++)
        {
            double v = stepHessian[i] * scale;
            accumulated[i] = (float)(first ? v : decay * accumulated[i] + v);
        }
    }
}
