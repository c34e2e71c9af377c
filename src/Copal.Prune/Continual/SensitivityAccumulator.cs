namespace Copal.Prune.Continual;

/// <summary>
/// The accumulation rules of the sensitivity state. They act on the per-column vectors directly: since
/// s_ij = w_ij²·c_j with the same w_ij ≥ 0 factor at every step, Σ_t and max_t of s_ij are w_ij² times Σ_t and
/// max_t of c_j, so the compact state loses nothing.
/// </summary>
internal static class SensitivityAccumulator
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
    /// be. OBS is invariant to a global scale of H, so S's own normalization does not matter. Returns a new array.
    /// </summary>
    public static float[] MaxDiagonalHessian(float[] accumulated, ReadOnlySpan<double> columns, int cols)
    {
        var result = new float[accumulated.LongLength];
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
    /// <see cref="SensitivityAccumulation.Pooled"/>: the token-weighted mean S ← (W·S + T·m)/(W + T) of per-token
    /// column moments, with W the (decayed) token weight of the datasets already folded and T this step's tokens; on
    /// the first step S ← m.
    /// </summary>
    public static void FoldPooled(Span<double> accumulated, ReadOnlySpan<double> stepPerToken, double priorWeight, double stepWeight, bool first)
    {
        if (accumulated.Length != stepPerToken.Length)
        {
            throw new PruningShapeException($"sensitivity state has {accumulated.Length} columns, the step {stepPerToken.Length}", nameof(stepPerToken));
        }
        double total = priorWeight + stepWeight;
        for (int j = 0; j < accumulated.Length; j++)
        {
            accumulated[j] = first || total <= 0 ? stepPerToken[j] : ((priorWeight * accumulated[j]) + (stepWeight * stepPerToken[j])) / total;
        }
    }

    /// <summary>
    /// <see cref="SensitivityAccumulation.Pooled"/> for the Hessian (f32, as stored): H ← (W·H + T·s·H_t)/(W + T) with
    /// s·H_t this step's Hessian per token (s = sequences/tokens, since H_t = (2/N_seq)·ΣXᵀX), W and T as in
    /// <see cref="FoldPooled"/>; on the first step H ← s·H_t.
    /// </summary>
    public static void FoldHessianPooled(float[] accumulated, double[] stepHessian, double perToken, double priorWeight, double stepWeight, bool first)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        FoldHessianPooled(accumulated, stepHessian, perToken, priorWeight, stepWeight, first, accumulated);
    }

    /// <summary>
    /// <see cref="FoldHessianPooled(float[], double[], double, double, double, bool)"/> with the result written to
    /// <paramref name="result"/> instead of over <paramref name="accumulated"/> (the same bits; at LLaMA-7B a
    /// down_proj Hessian is 485 MB, so a fold into a fresh array saves cloning the state's first).
    /// </summary>
    public static void FoldHessianPooled(float[] accumulated, double[] stepHessian, double perToken, double priorWeight, double stepWeight, bool first, float[] result)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        ArgumentNullException.ThrowIfNull(stepHessian);
        ArgumentNullException.ThrowIfNull(result);
        double total = priorWeight + stepWeight;
        bool fresh = first || total <= 0;
        double a = fresh ? 0 : priorWeight / total, b = PooledStepScale(perToken, priorWeight, stepWeight, first);
        for (long i = 0; i < accumulated.LongLength; i++)
        {
            result[i] = (float)((a * accumulated[i]) + (b * stepHessian[i]));
        }
    }

    /// <summary>The factor a step's statistic (per sequence) carries in the pooled fold: its share of the tokens, per token.</summary>
    private static double PooledStepScale(double perToken, double priorWeight, double stepWeight, bool first)
    {
        double total = priorWeight + stepWeight;
        return first || total <= 0 ? perToken : stepWeight * perToken / total;
    }

    /// <summary>
    /// Folds a step's Hessian, normalized to a mean diagonal of 1 so no dataset dominates through its activation
    /// scale, into the accumulated one (f32, as stored): H ← γ·H + Ĥ_t, for both modes (an element-wise max of
    /// Hessians need not be positive semi-definite).
    /// </summary>
    public static void FoldHessian(float[] accumulated, double[] stepHessian, int cols, double decay, bool first)
    {
        double mean = 0;
        for (int j = 0; j < cols; j++)
        {
            mean += stepHessian[((long)j * cols) + j];
        }
        mean /= cols;
        double scale = mean > 0 ? 1.0 / mean : 0;
        for (long i = 0; i < accumulated.LongLength; i++)
        {
            double v = stepHessian[i] * scale;
            accumulated[i] = (float)(first ? v : decay * accumulated[i] + v);
        }
    }
}
