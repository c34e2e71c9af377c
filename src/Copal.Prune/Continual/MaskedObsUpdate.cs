using Copal.Prune.Numerics;

namespace Copal.Prune.Continual;

/// <summary>
/// The optimal-brain-surgeon weight update for a mask chosen beforehand: columns are eliminated left to right as in
/// SparseGPT, but the mask is given instead of chosen on the way. With U the upper Cholesky factor of the dampened
/// H⁻¹, for each column i: q = w_i with the masked rows zeroed, err = (w_i − q)/U_ii, and the columns after i move by
/// −err ⊗ U[i, i+1:], so the kept weights absorb the error of the removed ones on the inputs H describes.
/// Plain O(rows·cols²) loop (no lazy blocks): COPAL's update runs once per linear per step.
/// </summary>
internal static class MaskedObsUpdate
{
    /// <summary>Updates <paramref name="weight"/> [rows, cols] in place; entries with <paramref name="pruneMask"/> set end exactly 0.</summary>
    public static void Apply(Span<float> weight, int rows, int cols, ReadOnlySpan<bool> pruneMask, float[] hessian, double percentDamp, CancellationToken cancellationToken)
    {
        if (hessian.LongLength != (long)cols * cols)
        {
            throw new PruningShapeException($"the Hessian has {hessian.LongLength} entries, expected {cols}×{cols}", nameof(hessian));
        }
        // Dead inputs get the diagonal SparseGPT gives them: their weights do not affect the output.
        Apply(weight, rows, cols, pruneMask, SweepFactor.Compute(hessian, cols, new SparseGptOptions(PercentDamp: percentDamp), cancellationToken), cancellationToken);
    }

    /// <summary>
    /// <see cref="Apply(Span{float}, int, int, ReadOnlySpan{bool}, float[], double, CancellationToken)"/> with the Hessian
    /// already factored: the linears of an input group share the accumulated Hessian, so COPAL factors it once for them.
    /// </summary>
    public static void Apply(Span<float> weight, int rows, int cols, ReadOnlySpan<bool> pruneMask, SweepFactor factor, CancellationToken cancellationToken)
    {
        if (factor.Dead.Length != cols)
        {
            throw new PruningShapeException($"the factor is for {factor.Dead.Length} inputs, expected {cols}", nameof(factor));
        }
        var w = new double[weight.Length];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = weight[i];
        }
        double[] u = factor.U;
        bool[] mask = pruneMask.ToArray();
        RowPartition.For(rows, 8, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                // A row is O(cols²): at LLaMA-7B's down_proj a partition runs for minutes, so Ctrl-C is checked per row.
                cancellationToken.ThrowIfCancellationRequested();
                Span<double> wr = w.AsSpan(r * cols, cols);
                ReadOnlySpan<bool> mr = mask.AsSpan(r * cols, cols);
                for (int i = 0; i < cols; i++)
                {
                    if (!mr[i] || wr[i] == 0)
                    {
                        continue;
                    }
                    double e = wr[i] / u[((long)i * cols) + i];
                    wr[i] = 0;
                    ReadOnlySpan<double> ui = u.AsSpan((i * cols) + i + 1, cols - i - 1);
                    Span<double> rest = wr[(i + 1)..];
                    for (int k = 0; k < rest.Length; k++)
                    {
                        rest[k] -= e * ui[k];
                    }
                }
            }
        }, cancellationToken);
        for (int i = 0; i < w.Length; i++)
        {
            weight[i] = mask[i] ? 0f : (float)w[i];
        }
    }
}
