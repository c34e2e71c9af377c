using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>RMS normalization as Hugging Face LlamaRMSNorm computes it in f32: y = w · (x · rsqrt(mean(x²) + eps)).</summary>
internal static class RmsNorm
{
    /// <summary>One row: destination[i] = weight[i] · (x[i] · 1/sqrt(mean(x²) + eps)). destination may alias x.</summary>
    public static void Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination)
    {
        if (weight.Length != x.Length || destination.Length != x.Length)
        {
            throw new ArgumentException($"rmsnorm lengths: x {x.Length}, weight {weight.Length}, destination {destination.Length}; all must match");
        }
        if (x.IsEmpty)
        {
            return;
        }
        float mean = TensorPrimitives.SumOfSquares(x) / x.Length;
        float scale = 1f / MathF.Sqrt(mean + eps);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s = Vector256.Create(scale);
            for (; i + 8 <= x.Length; i += 8)
            {
                // Same rounding order as HF: the normalized value is rounded before the weight multiplies it.
                (Vector256.Create(weight.Slice(i, 8)) * (Vector256.Create(x.Slice(i, 8)) * s)).CopyTo(destination.Slice(i, 8));
            }
        }
        for (; i < x.Length; i++)
        {
            destination[i] = weight[i] * (x[i] * scale);
        }
    }

    /// <summary>Rows [rowStart, rowEnd) of x [rows, dim].</summary>
    public static void Rows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, int rowStart, int rowEnd, Span<float> destination)
    {
        int dim = weight.Length;
        for (int r = rowStart; r < rowEnd; r++)
        {
            Compute(x.Slice(r * dim, dim), weight, eps, destination.Slice(r * dim, dim));
        }
    }
}
