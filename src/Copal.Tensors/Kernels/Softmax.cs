using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>Numerically stable softmax: exp(x − max) / Σ exp(x − max), so no exponent overflows.</summary>
public static class Softmax
{
    /// <summary>destination = softmax(x); destination may alias x. An all −∞ row yields NaN, as torch does.</summary>
    public static void Compute(ReadOnlySpan<float> x, Span<float> destination)
    {
        if (destination.Length != x.Length)
        {
            throw new ArgumentException($"softmax destination has {destination.Length} elements, x has {x.Length}", nameof(destination));
        }
        if (x.IsEmpty)
        {
            return;
        }
        float max = TensorPrimitives.Max(x);
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vmax = Vector512.Create(max), vsum = Vector512<float>.Zero;
            for (; i + 16 <= x.Length; i += 16)
            {
                Vector512<float> e = Vector512.Exp(Vector512.Create(x.Slice(i, 16)) - vmax);
                e.CopyTo(destination.Slice(i, 16));
                vsum += e;
            }
            sum = Vector512.Sum(vsum);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vmax = Vector256.Create(max), vsum = Vector256<float>.Zero;
            for (; i + 8 <= x.Length; i += 8)
            {
                Vector256<float> e = Vector256.Exp(Vector256.Create(x.Slice(i, 8)) - vmax);
                e.CopyTo(destination.Slice(i, 8));
                vsum += e;
            }
            sum += Vector256.Sum(vsum);
        }
        for (; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            destination[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(destination, 1f / sum, destination);
    }

    /// <summary>Rows [rowStart, rowEnd) of x [rows, cols], in place.</summary>
    public static void Rows(Span<float> x, int cols, int rowStart, int rowEnd)
    {
        for (int r = rowStart; r < rowEnd; r++)
        {
            Span<float> row = x.Slice(r * cols, cols);
            Compute(row, row);
        }
    }
}
