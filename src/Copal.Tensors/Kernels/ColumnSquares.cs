using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>Wanda's input statistic: squared column norms of X, accumulated.</summary>
internal static class ColumnSquares
{
    /// <summary>sums[c] += Σ_r x[r, c]² for columns [colStart, colEnd) of x [rows, sums.Length].</summary>
    public static void Accumulate(ReadOnlySpan<float> x, int rows, Span<float> sums, int colStart, int colEnd)
    {
        int cols = sums.Length;
        if ((long)x.Length < (long)rows * cols)
        {
            throw new ArgumentException($"x has {x.Length} elements, expected [{rows}, {cols}]", nameof(x));
        }
        if ((uint)colStart > (uint)colEnd || colEnd > cols)
        {
            throw new ArgumentOutOfRangeException(nameof(colEnd), $"column range [{colStart}, {colEnd}) outside [0, {cols})");
        }
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * cols, cols);
            int c = colStart;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; c + 8 <= colEnd; c += 8)
                {
                    Vector256<float> v = Vector256.Create(row.Slice(c, 8));
                    Vector256.FusedMultiplyAdd(v, v, Vector256.Create(sums.Slice(c, 8))).CopyTo(sums.Slice(c, 8));
                }
            }
            for (; c < colEnd; c++)
            {
                sums[c] = MathF.FusedMultiplyAdd(row[c], row[c], sums[c]);
            }
        }
    }
}
