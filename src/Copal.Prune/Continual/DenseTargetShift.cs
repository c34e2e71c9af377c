using System.Numerics.Tensors;
using Copal.Prune.Numerics;

namespace Copal.Prune.Continual;

/// <summary>
/// Moves a linear's dense weights to the least-squares optimum of asymmetric calibration before SparseGPT's sweep:
/// W ← W + s·W·K·(H + λI)⁻¹, with K the cross term Σ (x_dense − x)·xᵀ of the inputs through both upstreams
/// (<see cref="InputStatistics.UpstreamShift"/>; COPAL passes it pooled over the datasets like H), H the Hessian the
/// sweep prunes with and s = α. Then ‖W_target·X_dense − Ŵ·X‖² = ‖(W' − Ŵ)·X‖² + const, so the sweep over W' minimizes it.
/// (H + λI)⁻¹ is the sweep's own factor (<see cref="SweepFactor"/>): SparseGPT's dampening and dead inputs.
/// </summary>
internal static class DenseTargetShift
{
    // Weight rows moved together: each row of K and U is read from memory once per block instead of once per row
    // (at LLaMA-7B's down_proj K alone is 0.97 GB in f64), and a block's three work rows stay in L2. The arithmetic of
    // each row is the same as one at a time.
    private const int RowBlock = 8;

    /// <summary>Moves <paramref name="weight"/> in place; a scale of 0 or a zero K leaves it as it is.</summary>
    /// <param name="weight">W [rows, cols], the dense weights (moved in place).</param>
    /// <param name="rows">Output rows of W.</param>
    /// <param name="cols">Input columns of W.</param>
    /// <param name="factor">The sweep's factor of H: (H + λI)⁻¹ = UᵀU, with its dampening and dead inputs.</param>
    /// <param name="shift">K [cols, cols] at the Hessian's scale.</param>
    /// <param name="scale">s: α, the share of the dense output in the target.</param>
    /// <param name="cancellationToken">Checked between blocks of rows.</param>
    public static void Apply(Span<float> weight, int rows, int cols, SweepFactor factor, double[] shift, double scale, CancellationToken cancellationToken)
    {
        // The first pruned layer sees the same inputs through both upstreams, so its K is exactly zero: skip three
        // passes of rows·cols² multiply-adds that would add zeros (at LLaMA-7B, minutes a layer).
        if (scale == 0 || TensorPrimitives.MaxMagnitude<double>(shift) == 0)
        {
            return;
        }
        double[] u = factor.U;
        var w = new double[(long)rows * cols];
        for (long i = 0; i < w.LongLength; i++)
        {
            w[i] = weight[(int)i];
        }
        var moved = new float[w.Length];
        RowPartition.For(rows, RowBlock, (r0, r1) =>
        {
            var m = new double[RowBlock * cols];
            var y = new double[RowBlock * cols];
            var x = new double[RowBlock * cols];
            for (int b0 = r0; b0 < r1; b0 += RowBlock)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(RowBlock, r1 - b0);
                // m = s·w·K
                Array.Clear(m);
                for (int k = 0; k < cols; k++)
                {
                    ReadOnlySpan<double> kRow = shift.AsSpan(k * cols, cols);
                    for (int i = 0; i < n; i++)
                    {
                        double v = w[((b0 + i) * cols) + k];
                        if (v != 0)
                        {
                            Span<double> mi = m.AsSpan(i * cols, cols);
                            TensorPrimitives.MultiplyAdd(kRow, scale * v, mi, mi);
                        }
                    }
                }
                // y = m·Uᵀ: y_j = Σ_{k ≥ j} m_k·U_jk
                for (int j = 0; j < cols; j++)
                {
                    ReadOnlySpan<double> uRow = u.AsSpan((j * cols) + j, cols - j);
                    for (int i = 0; i < n; i++)
                    {
                        y[(i * cols) + j] = TensorPrimitives.Dot(m.AsSpan((i * cols) + j, cols - j), uRow);
                    }
                }
                // x = y·U: row k of U, from its diagonal, scaled by y_k
                Array.Clear(x);
                for (int k = 0; k < cols; k++)
                {
                    ReadOnlySpan<double> uRow = u.AsSpan((k * cols) + k, cols - k);
                    for (int i = 0; i < n; i++)
                    {
                        double yk = y[(i * cols) + k];
                        if (yk != 0)
                        {
                            Span<double> tail = x.AsSpan((i * cols) + k, cols - k);
                            TensorPrimitives.MultiplyAdd(uRow, yk, tail, tail);
                        }
                    }
                }
                for (int i = 0; i < n; i++)
                {
                    int r = b0 + i;
                    for (int j = 0; j < cols; j++)
                    {
                        moved[(r * cols) + j] = (float)(w[(r * cols) + j] + x[(i * cols) + j]);
                    }
                }
            }
        }, cancellationToken);
        moved.CopyTo(weight);
    }
}
