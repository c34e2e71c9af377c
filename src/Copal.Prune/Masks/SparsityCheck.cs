using Copal.Tensors;

namespace Copal.Prune;

/// <summary>Counts and validates the zeros of a pruned weight matrix [rows, cols] row-major.</summary>
public static class SparsityCheck
{
    /// <summary>Exact zeros (±0) of each row into <paramref name="zerosPerRow"/> [rows].</summary>
    public static void CountZerosPerRow(ReadOnlySpan<float> weight, int rows, int cols, Span<int> zerosPerRow)
    {
        CheckShape(weight.Length, rows, cols);
        if (zerosPerRow.Length != rows)
        {
            throw new PruningShapeException($"'zerosPerRow' has {zerosPerRow.Length} entries, expected {rows} (one per row)", nameof(zerosPerRow));
        }
        for (int r = 0; r < rows; r++)
        {
            zerosPerRow[r] = CountZeros(weight.Slice(r * cols, cols));
        }
    }

    /// <summary>Exact zeros (±0) in <paramref name="values"/>.</summary>
    public static int CountZeros(ReadOnlySpan<float> values)
    {
        int zeros = 0;
        foreach (float v in values)
        {
            if (v == 0f)
            {
                zeros++;
            }
        }
        return zeros;
    }

    /// <summary>
    /// Exact zeros (±0) of a stored F32, BF16 or F16 tensor, read in its dtype (no conversion): what a layer copied
    /// unpruned contributes to a model's sparsity.
    /// </summary>
    public static long CountZeros(TensorView view)
    {
        return view.DType switch
        {
            // The sign bit aside, a zero is all zero bits.
            DType.F32 => CountZeroBits(view.AsSpan<uint>(), 0x7FFF_FFFFu),
            DType.BF16 or DType.F16 => CountZeroBits(view.AsSpan<ushort>(), (ushort)0x7FFF),
            _ => throw new PruningShapeException($"tensor '{view.Name}' is {view.DType}; zeros are counted in F32, BF16 or F16 weights", nameof(view)),
        };
    }

    private static long CountZeroBits<T>(ReadOnlySpan<T> bits, T magnitude) where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        long zeros = 0;
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var mask = new System.Numerics.Vector<T>(magnitude);
            for (; i <= bits.Length - System.Numerics.Vector<T>.Count; i += System.Numerics.Vector<T>.Count)
            {
                var v = new System.Numerics.Vector<T>(bits[i..]);
                zeros += System.Numerics.Vector.CountWhereAllBitsSet(System.Numerics.Vector.Equals(v & mask, System.Numerics.Vector<T>.Zero));
            }
        }
        for (; i < bits.Length; i++)
        {
            if ((bits[i] & magnitude) == T.Zero)
            {
                zeros++;
            }
        }
        return zeros;
    }

    /// <summary>
    /// Throws unless every group of <paramref name="m"/> consecutive columns in every row has at least
    /// <paramref name="n"/> zeros.
    /// </summary>
    /// <exception cref="SparsityViolationException">Names the first row and group that fails.</exception>
    public static void ValidateNM(ReadOnlySpan<float> weight, int rows, int cols, int n, int m)
    {
        CheckShape(weight.Length, rows, cols);
        new SparsityPattern.NM(n, m).EnsureFits(cols, "the weight");
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g * m < cols; g++)
            {
                int zeros = CountZeros(weight.Slice(r * cols + g * m, m));
                if (zeros < n)
                {
                    throw new SparsityViolationException(
                        $"row {r}, group {g} (columns {g * m}..{g * m + m - 1}) has {zeros} zeros, expected at least {n} for {n}:{m}", r, g);
                }
            }
        }
    }

    /// <summary>Throws unless every row has at least <paramref name="minimumPerRow"/> zeros.</summary>
    /// <exception cref="SparsityViolationException">Names the first row that fails.</exception>
    public static void ValidatePerRow(ReadOnlySpan<float> weight, int rows, int cols, int minimumPerRow)
    {
        CheckShape(weight.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            int zeros = CountZeros(weight.Slice(r * cols, cols));
            if (zeros < minimumPerRow)
            {
                throw new SparsityViolationException($"row {r} has {zeros} zeros, expected at least {minimumPerRow}", r, -1);
            }
        }
    }

    private static void CheckShape(int length, int rows, int cols)
    {
        if (rows < 0 || cols < 0 || length != (long)rows * cols)
        {
            throw new PruningShapeException($"weight has {length} elements, expected {rows}×{cols}", "weight");
        }
    }
}
