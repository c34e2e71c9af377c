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
    // Weight rows moved together. The two products (s·w·K and y·U) keep a tile of their result in registers and read
    // K and U once per block (at LLaMA-7B's down_proj K alone is 0.97 GB in f64); the middle step, dot products along
    // U's rows, goes 8 rows at a time so that those rows of m stay in L2. Three work arrays of 128 × 11,008 doubles
    // are 34 MB a thread.
    private const int RowBlock = 128;
    private const int DotBlock = 8;

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
        RowPartition.For(rows, DotBlock, (r0, r1) =>
        {
            int block = Math.Min(RowBlock, r1 - r0);
            var m = new double[block * cols];
            var y = new double[block * cols];
            var x = new double[block * cols];
            for (int b0 = r0; b0 < r1; b0 += block)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(block, r1 - b0);
                Array.Clear(m);
                Array.Clear(x);
                Move(w.AsSpan(b0 * cols, n * cols), n, cols, shift, u, scale, m, y, x, cancellationToken);
                for (int i = 0; i < n * cols; i++)
                {
                    moved[(b0 * cols) + i] = (float)(w[(b0 * cols) + i] + x[i]);
                }
            }
        }, cancellationToken);
        moved.CopyTo(weight);
    }

    // x = (s·w·K)·(H + λI)⁻¹ = ((s·w·K)·Uᵀ)·U for n rows of w; m and x arrive zeroed.
    private static unsafe void Move(ReadOnlySpan<double> w, int n, int cols, double[] shift, double[] u, double scale,
        double[] m, double[] y, double[] x, CancellationToken cancellationToken)
    {
        fixed (double* wp = w, kp = shift, up = u, mp = m, yp = y, xp = x)
        {
            // m = s·w·K
            ProductTile.MultiplyAdd(wp, cols, scale, kp, cols, mp, cols, n, cols, cols, upperTriangular: false);
            cancellationToken.ThrowIfCancellationRequested();
            // y = m·Uᵀ: y_j = Σ_{k ≥ j} m_k·U_jk, each row of U read once per DotBlock rows of m
            for (int i0 = 0; i0 < n; i0 += DotBlock)
            {
                int i1 = Math.Min(n, i0 + DotBlock);
                for (int j = 0; j < cols; j++)
                {
                    ReadOnlySpan<double> uRow = u.AsSpan((j * cols) + j, cols - j);
                    for (int i = i0; i < i1; i++)
                    {
                        y[(i * cols) + j] = TensorPrimitives.Dot(m.AsSpan((i * cols) + j, cols - j), uRow);
                    }
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            // x = y·U, U upper triangular
            ProductTile.MultiplyAdd(yp, cols, 1.0, up, cols, xp, cols, n, cols, cols, upperTriangular: true);
        }
    }
}
