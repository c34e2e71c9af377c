using System.Numerics.Tensors;

namespace Copal.Tensors.Kernels;

/// <summary>Residual connection and bias: element-wise sums.</summary>
internal static class Add
{
    /// <summary>destination[i] = a[i] + b[i]; destination may be a or b (the same span, not a shifted overlap).</summary>
    public static void Compute(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
    {
        if (b.Length != a.Length || destination.Length != a.Length)
        {
            throw new ArgumentException($"add lengths: a {a.Length}, b {b.Length}, destination {destination.Length}; all must match");
        }
        TensorPrimitives.Add(a, b, destination);
    }

    /// <summary>x[i] = x[i] · factor in place.</summary>
    public static void Scale(Span<float> x, float factor) => TensorPrimitives.Multiply(x, factor, x);

    /// <summary>y[r, c] += bias[c] for rows [rowStart, rowEnd) of y [rows, bias.Length].</summary>
    public static void Bias(Span<float> y, ReadOnlySpan<float> bias, int rowStart, int rowEnd)
    {
        int cols = bias.Length;
        for (int r = rowStart; r < rowEnd; r++)
        {
            Span<float> row = y.Slice(r * cols, cols);
            TensorPrimitives.Add(row, bias, row);
        }
    }
}
