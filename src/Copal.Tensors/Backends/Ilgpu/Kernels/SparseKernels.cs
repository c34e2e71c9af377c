using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// y[r, o] = Σ_c x[r, c]·W[o, c] for W stored N:M or as a bitmask (docs/sparse-formats.md), values in their stored
/// dtype. A group per output feature (grid-stride): it loops over the input rows, so a row of W is fetched from
/// memory once and re-read from cache for every further input row. That is the decode shape (rows = 1).
/// </summary>
internal static class SparseKernels
{
    /// <summary>
    /// N:M: per row of W, cols/m groups of n stored values; value k's in-group column is the <paramref name="bits"/>-wide
    /// field at bit k·bits of the row's index stream (<paramref name="indexStride"/> bytes per row, little-endian).
    /// Threads take whole groups.
    /// </summary>
    public static void NM<TW>(ArrayView<float> x, TW values, ArrayView<byte> index, ArrayView<float> y,
        int rows, int outs, int cols, int n, int m, int bits, int indexStride)
        where TW : struct, IWeightView
    {
        int thread = Group.IdxX, groupSize = Group.DimX;
        int groups = cols / m;
        uint fieldMask = (1u << bits) - 1u;
        for (int o = Grid.IdxX; o < outs; o += Grid.DimX)
        {
            long valueBase = (long)o * groups * n;
            long indexBase = (long)o * indexStride;
            for (int r = 0; r < rows; r++)
            {
                long xRow = (long)r * cols;
                float acc = 0f;
                for (int g = thread; g < groups; g += groupSize)
                {
                    for (int j = 0; j < n; j++)
                    {
                        int k = (g * n) + j;
                        int bit = k * bits;
                        int b = bit >> 3;
                        uint word = index[indexBase + b];
                        if (b + 1 < indexStride)
                        {
                            word |= (uint)index[indexBase + b + 1] << 8;
                        }
                        int c = (g * m) + (int)((word >> (bit & 7)) & fieldMask);
                        acc += x[xRow + c] * values.Load(valueBase + k);
                    }
                }
                acc = GroupExtensions.AllReduce<float, AddFloat>(acc);
                if (thread == 0)
                {
                    y[((long)r * outs) + o] = acc;
                }
                Group.Barrier();
            }
        }
    }

    /// <summary>
    /// Bitmask: per row of W, ceil(cols/32) mask words (bit j of word w marks column 32w + j) and, per word, the index
    /// of its first stored value, so threads can take words independently.
    /// </summary>
    public static void Bitmask<TW>(ArrayView<float> x, TW values, ArrayView<uint> mask, ArrayView<uint> starts, ArrayView<float> y,
        int rows, int outs, int cols)
        where TW : struct, IWeightView
    {
        int thread = Group.IdxX, groupSize = Group.DimX;
        int words = (cols + 31) / 32;
        for (int o = Grid.IdxX; o < outs; o += Grid.DimX)
        {
            long wordBase = (long)o * words;
            for (int r = 0; r < rows; r++)
            {
                long xRow = (long)r * cols;
                float acc = 0f;
                for (int w = thread; w < words; w += groupSize)
                {
                    uint left = mask[wordBase + w];
                    long v = starts[wordBase + w];
                    while (left != 0u)
                    {
                        int j = IntrinsicMath.BitOperations.TrailingZeroCount(left);
                        acc += x[xRow + (w * 32) + j] * values.Load(v);
                        v++;
                        left &= left - 1u;
                    }
                }
                acc = GroupExtensions.AllReduce<float, AddFloat>(acc);
                if (thread == 0)
                {
                    y[((long)r * outs) + o] = acc;
                }
                Group.Barrier();
            }
        }
    }
}
