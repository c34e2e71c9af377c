using System.Numerics.Tensors;
using Copal.Prune.Numerics;

namespace Copal.Prune.Continual;

/// <summary>
/// Moves a linear's dense weights to the least-squares optimum of asymmetric calibration before SparseGPT's sweep:
/// W ← W + s·W·K·(H + λI)⁻¹, with K the cross term Σ (x_dense − x)·xᵀ of the inputs through both upstreams
/// (<see cref="InputStatistics.UpstreamShift"/>), H the Hessian the sweep prunes with and s = α times this dataset's
/// share of H. Then ‖W_target·X_dense − Ŵ·X‖² = ‖(W' − Ŵ)·X‖² + const, so the sweep over W' minimizes it.
/// (H + λI)⁻¹ is the sweep's own factor (<see cref="SweepFactor"/>): SparseGPT's dampening and dead inputs.
/// </summary>
internal static class DenseTargetShift
{
    /// <summary>Moves <paramref name="weight"/> in place; a scale of 0 leaves it as it is.</summary>
    /// <param name="weight">W [rows, cols], the dense weights (moved in place).</param>
    /// <param name="rows">Output rows of W.</param>
    /// <param name="cols">Input columns of W.</param>
    /// <param name="factor">The sweep's factor of H: (H + λI)⁻¹ = UᵀU, with its dampening and dead inputs.</param>
    /// <param name="shift">K [cols, cols] at the Hessian's per-dataset scale.</param>
    /// <param name="scale">s: α times this dataset's weight in the pooled H.</param>
    /// <param name="cancellationToken">Checked between rows.</param>
    public static void Apply(Span<float> weight, int rows, int cols, SweepFactor factor, double[] shift, double scale, CancellationToken cancellationToken)
    {
        if (scale == 0)
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
        RowPartition.For(rows, 4, (r0, r1) =>
        {
            var m = new double[cols];
            var y = new double[cols];
            var x = new double[cols];
            for (int r = r0; r < r1; r++)
            {
                ReadOnlySpan<double> row = w.AsSpan(r * cols, cols);
                // m = s·w·K
                Array.Clear(m);
                for (int k = 0; k < cols; k++)
                {
                    if (row[k] != 0)
                    {
                        TensorPrimitives.MultiplyAdd(shift.AsSpan(k * cols, cols), scale * row[k], m, m);
                    }
                }
                // y = m·Uᵀ: y_j = Σ_{k ≥ j} m_k·U_jk
                for (int j = 0; j < cols; j++)
                {
                    y[j] = TensorPrimitives.Dot(m.AsSpan(j, cols - j), u.AsSpan((j * cols) + j, cols - j));
                }
                // x = y·U: row k of U, from its diagonal, scaled by y_k
                Array.Clear(x);
                for (int k = 0; k < cols; k++)
                {
                    if (y[k] != 0)
                    {
                        Span<double> tail = x.AsSpan(k, cols - k);
                        TensorPrimitives.MultiplyAdd(u.AsSpan((k * cols) + k, cols - k), y[k], tail, tail);
                    }
                }
                for (int j = 0; j < cols; j++)
                {
                    moved[(r * cols) + j] = (float)(row[j] + x[j]);
                }
            }
        }, cancellationToken);
        moved.CopyTo(weight);
    }
}
