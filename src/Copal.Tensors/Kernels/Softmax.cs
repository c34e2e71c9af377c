using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>Numerically stable softmax: exp(x − max) / Σ exp(x − max), so no exponent overflows.</summary>
internal static class Softmax
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
        unsafe
        {
            fixed (float* px = x)
            fixed (float* pd = destination)
            {
                float sum = ScaledExp(px, x.Length, 1f, pd);
                TensorPrimitives.Multiply(destination, 1f / sum, destination);
            }
        }
    }

    /// <summary>
    /// destination[i] = exp(x[i]·scale − max_j(x[j]·scale)) for i &lt; n, the numerators of softmax(x·scale), and
    /// returns their sum; destination may alias x. The product is rounded before the subtraction, as when x is
    /// scaled first (HF eager attention's order), and max(x)·scale is max(x·scale) for scale &gt; 0: rounding is
    /// monotone. Callers that fold the normalization into a later product (attention's O = S·V) save a pass.
    /// </summary>
    internal static unsafe float ScaledExp(float* x, int n, float scale, float* destination) =>
        ScaledExp(x, n, scale, TensorPrimitives.Max(new ReadOnlySpan<float>(x, n)) * scale, destination);

    /// <summary><see cref="ScaledExp(float*, int, float, float*)"/> with max(x)·scale already known.</summary>
    internal static unsafe float ScaledExp(float* x, int n, float scale, float max, float* destination)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vscale = Vector512.Create(scale), vmax = Vector512.Create(max), vsum = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> e = SoftmaxExp.Exp(Vector512.Load(x + i) * vscale - vmax);
                e.Store(destination + i);
                vsum += e;
            }
            sum = Vector512.Sum(vsum);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vscale = Vector256.Create(scale), vmax = Vector256.Create(max), vsum = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> e = SoftmaxExp.Exp(Vector256.Load(x + i) * vscale - vmax);
                e.Store(destination + i);
                vsum += e;
            }
            sum += Vector256.Sum(vsum);
        }
        for (; i < n; i++)
        {
            float e = SoftmaxExp.Exp(x[i] * scale - max);
            destination[i] = e;
            sum += e;
        }
        return sum;
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
