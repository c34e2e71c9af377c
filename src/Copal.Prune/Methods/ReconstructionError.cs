using System.Numerics;
using System.Runtime.InteropServices;

namespace Copal.Prune;

/// <summary>
/// The relative output error of a pruned layer on its calibration inputs, tr(ΔW H ΔWᵀ) / tr(W H Wᵀ),
/// since H ∝ XᵀX makes ‖X ΔWᵀ‖² = tr(ΔW H ΔWᵀ)·N/2.
/// </summary>
internal static class ReconstructionError
{
    // Rows per pass over H: each H row (cols doubles) is reused by this many weight rows while it sits in L1.
    private const int RowChunk = 64;

    public static double Compute(float[] original, ReadOnlySpan<float> pruned, int rows, int cols, double[] hessian, CancellationToken cancellationToken)
    {
        float[] after = pruned.ToArray();
        int chunks = (rows + RowChunk - 1) / RowChunk;
        var numerators = new double[chunks];
        var denominators = new double[chunks];
        RowPartition.For(chunks, 1, (c0, c1) =>
        {
            var w = new double[RowChunk * cols];
            var d = new double[RowChunk * cols];
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
                numerators[c] = num;
                denominators[c] = den;
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

    internal static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
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
}
