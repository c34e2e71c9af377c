using System.Numerics;
using System.Runtime.InteropServices;
using Copal.Prune.Numerics;

namespace Copal.Prune;

/// <summary>
/// The relative output error of a pruned layer on its calibration inputs, tr(ΔW H ΔWᵀ) / tr(W H Wᵀ),
/// since H ∝ XᵀX makes ‖X ΔWᵀ‖² = tr(ΔW H ΔWᵀ)·N/2.
/// </summary>
/// <remarks>
/// Both traces cost rows·cols² multiply-adds, more than the SparseGPT sweep itself at LLaMA widths (down_proj's
/// 2048×5632 took 80 s as one dot product per weight row and H row), so they are read from H's lower triangle
/// (x H xᵀ = Σ_i H_ii x_i² + 2 Σ_{j&lt;i} x_i H_ij x_j, half the work) and phrased as <see cref="DotTile"/> tiles: a
/// tile of H rows meets a chunk of weight rows in 512-long slices that stay in cache, and each H slice serves the
/// original and the difference while it is there.
/// </remarks>
internal static unsafe class ReconstructionError
{
    // Weight rows per task: each H tile is read once per chunk, so larger chunks read H less often.
    private const int RowChunk = 64;

    // H rows per tile, and the length of the dot-product slices (the chunk's and the tile's slices fit in L2).
    private const int Tile = 64;
    private const int DotChunk = 512;

    public static double Compute(float[] original, ReadOnlySpan<float> pruned, int rows, int cols, double[] hessian, CancellationToken cancellationToken)
    {
        float[] after = pruned.ToArray();
        // The tiles multiply every H entry by both of its inputs, so an ∞ or NaN meets a 0 that the row-by-row traces
        // skipped (Δ_i = 0) and gives NaN where those gave 0 or ∞: non-finite inputs keep the row-by-row traces.
        bool finite = AllFinite(hessian) && AllFinite(original) && AllFinite(after);
        int chunks = (rows + RowChunk - 1) / RowChunk;
        var numerators = new double[chunks];
        var denominators = new double[chunks];
        RowPartition.For(chunks, 1, (c0, c1) =>
        {
            var w = new double[RowChunk * cols];
            var d = new double[RowChunk * cols];
            var partialW = new double[RowChunk * Tile];
            var partialD = new double[RowChunk * Tile];
            for (int c = c0; c < c1; c++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int r0 = c * RowChunk, n = Math.Min(RowChunk, rows - r0);
                for (int k = 0; k < n * cols; k++)
                {
                    double before = original[(r0 * cols) + k];
                    w[k] = before;
                    d[k] = after[(r0 * cols) + k] - before;
                }
                (numerators[c], denominators[c]) = finite
                    ? QuadraticForms(d, w, n, cols, hessian, partialD, partialW)
                    : RowByRow(d, w, n, cols, hessian);
            }
        }, cancellationToken);
        double numerator = 0, denominator = 0;
        for (int c = 0; c < chunks; c++)
        {
            numerator += numerators[c];
            denominator += denominators[c];
        }
        return denominator == 0 ? (numerator == 0 ? 0 : double.PositiveInfinity) : numerator / denominator;
    }

    /// <summary>
    /// Σ_r x_r H x_rᵀ over the <paramref name="n"/> rows of x [n, cols], for x = <paramref name="a"/> and x = <paramref name="b"/>,
    /// from H's lower triangle. <paramref name="partialA"/> and <paramref name="partialB"/> are [n, Tile] scratch.
    /// </summary>
    internal static (double A, double B) QuadraticForms(double[] a, double[] b, int n, int cols, double[] h, double[] partialA, double[] partialB)
    {
        double sumA = 0, sumB = 0;
        fixed (double* pa = a, pb = b, ph = h, qa = partialA, qb = partialB)
        {
            for (int i0 = 0; i0 < cols; i0 += Tile)
            {
                int i1 = Math.Min(i0 + Tile, cols);
                Array.Clear(partialA);
                Array.Clear(partialB);
                // partial[r, i − i0] = Σ_{k<i0} x[r, k]·H[i, k]: the tile's rows left of its diagonal block. The slice of
                // H stays in cache for both operands.
                for (int k0 = 0; k0 < i0; k0 += DotChunk)
                {
                    int k1 = Math.Min(k0 + DotChunk, i0);
                    DotTile.Accumulate(pa, cols, ph, cols, qa - i0, Tile, 1, 0, n, i0, i1, k0, k1, 1.0, lowerOnly: false);
                    DotTile.Accumulate(pb, cols, ph, cols, qb - i0, Tile, 1, 0, n, i0, i1, k0, k1, 1.0, lowerOnly: false);
                }
                sumA += DiagonalBlock(pa, qa, n, cols, ph, i0, i1);
                sumB += DiagonalBlock(pb, qb, n, cols, ph, i0, i1);
            }
        }
        return (sumA, sumB);
    }

    // Completes each partial sum with the diagonal block's terms k ∈ [i0, i) and adds x_i·(2·Σ_{k<i} H_ik x_k + H_ii x_i).
    private static double DiagonalBlock(double* x, double* partial, int n, int cols, double* h, int i0, int i1)
    {
        double sum = 0;
        for (int r = 0; r < n; r++)
        {
            double* xr = x + ((long)r * cols);
            for (int i = i0; i < i1; i++)
            {
                double* hi = h + ((long)i * cols);
                double s = partial[(r * Tile) + i - i0];
                for (int k = i0; k < i; k++)
                {
                    s += xr[k] * hi[k];
                }
                sum += xr[i] * ((2 * s) + (hi[i] * xr[i]));
            }
        }
        return sum;
    }

    // Σ_r Σ_{i: Δ_ri ≠ 0} Δ_ri·(H_i·Δ_r) and Σ_r Σ_i W_ri·(H_i·W_r), each H row read in full: the traces as they were
    // computed before the tiles, kept for inputs holding ∞ or NaN so those give what they gave.
    private static (double Difference, double Original) RowByRow(double[] d, double[] w, int n, int cols, double[] hessian)
    {
        double num = 0, den = 0;
        for (int i = 0; i < cols; i++)
        {
            ReadOnlySpan<double> h = hessian.AsSpan(i * cols, cols);
            for (int r = 0; r < n; r++)
            {
                ReadOnlySpan<double> dr = d.AsSpan(r * cols, cols);
                ReadOnlySpan<double> wr = w.AsSpan(r * cols, cols);
                if (dr[i] != 0)
                {
                    num += dr[i] * Dot(h, dr);
                }
                den += wr[i] * Dot(h, wr);
            }
        }
        return (num, den);
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var acc = Vector<double>.Zero;
            ReadOnlySpan<Vector<double>> va = MemoryMarshal.Cast<double, Vector<double>>(a);
            ReadOnlySpan<Vector<double>> vb = MemoryMarshal.Cast<double, Vector<double>>(b[..a.Length]);
            for (int k = 0; k < va.Length; k++)
            {
                acc += va[k] * vb[k];
            }
            sum = Vector.Sum(acc);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }

    private static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (double v in values)
        {
            if (!double.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }
}
