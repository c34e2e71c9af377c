using System.Runtime.CompilerServices;
using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// y[r, o] = Σ_c x[r, c]·W[o, c] for W stored N:M or as a bitmask (docs/sparse-formats.md), values in their stored
/// dtype. A team of lanes per output feature (<see cref="OutputTeams"/>: a warp on a GPU, one thread on ILGPU's CPU
/// accelerator), grid-stride, summed with warp shuffles: no group-wide reduction, shared memory or barrier. Input rows are looped inside, so a
/// row of W is fetched from memory once and re-read from cache for every further input row. That is the decode
/// shape (rows = 1).
/// </summary>
internal static class SparseKernels
{
    /// <summary>
    /// N:M: per row of W, cols/m groups of n stored values; value k's in-group column is the <paramref name="bits"/>-wide
    /// field at bit k·bits of the row's index stream (<paramref name="indexStride"/> bytes per row, little-endian).
    /// A team of lanes per output feature (as in <see cref="TwoOfFour"/>); lanes take whole groups.
    /// </summary>
    public static void NM<TW>(ArrayView<float> x, TW values, ArrayView<byte> index, ArrayView<float> y,
        int rows, int outs, int cols, int n, int m, int bits, int indexStride)
        where TW : struct, IWeightView
    {
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        int groups = cols / m;
        for (int o = first; o < outs; o += stride)
        {
            long valueBase = (long)o * groups * n;
            long indexBase = (long)o * indexStride;
            for (int r = 0; r < rows; r++)
            {
                float acc = NMDot(x, (long)r * cols, values, valueBase, index, indexBase, groups, n, m, bits, indexStride, team, lane);
                OutputTeams.Store(y, ((long)r * outs) + o, acc, team, lane);
            }
        }
    }

    /// <summary>This lane's share of one N:M row times the input row at <paramref name="xRow"/>: lanes take whole groups.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float NMDot<TW>(ArrayView<float> x, long xRow, TW values, long valueBase, ArrayView<byte> index, long indexBase,
        int groups, int n, int m, int bits, int indexStride, int team, int lane)
        where TW : struct, IWeightView
    {
        uint fieldMask = (1u << bits) - 1u;
        float acc = 0f;
        for (int g = lane; g < groups; g += team)
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
        return acc;
    }

    /// <summary>
    /// 2:4 with 2-bit fields, the common semi-structured pattern, laid out for decode's memory bound, where cols is a
    /// multiple of 16 (<see cref="ReadsInChunks"/>; other widths take <see cref="NM"/>): a team of lanes (a warp on a
    /// GPU) per output feature, reading the row in chunks of four groups (<see cref="TwoOfFourDot"/>) stored as
    /// <see cref="TwoOfFourLayout"/> permutes them, lane l of a step taking chunks base + l and base + team + l, so
    /// the warp's reads of values, index nibbles and each of a chunk's four x quads are consecutive across lanes:
    /// whole cache lines, no gather. Input rows are looped inside, W's row re-read from cache.
    /// </summary>
    public static void TwoOfFour<TW>(ArrayView<float> x, TW values, ArrayView<byte> index, ArrayView<float> y,
        int rows, int outs, int cols)
        where TW : struct, IWeightView
    {
        ArrayView<Quad> x4 = x.Cast<Quad>();
        ArrayView<ushort> index16 = index.Cast<ushort>();
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        int chunks = cols >> 4;
        for (int o = first; o < outs; o += stride)
        {
            for (int r = 0; r < rows; r++)
            {
                float acc = TwoOfFourDot(x4, ((long)r * cols) >> 2, values, index16, o, chunks, team, lane);
                OutputTeams.Store(y, ((long)r * outs) + o, acc, team, lane);
            }
        }
    }

    /// <summary>
    /// Whether <see cref="TwoOfFour"/> (and the fused GEMVs' <see cref="TwoOfFourRows{TV}"/>) can read a 2:4 weight
    /// of <paramref name="cols"/> columns: whole chunks of four groups, so a row's eight values a chunk start on a
    /// 16-byte boundary and its index stream (cols / 8 bytes) on a 2-byte one. Every LLaMA width is.
    /// </summary>
    public static bool ReadsInChunks(int cols) => cols % 16 == 0;

    /// <summary>
    /// This lane's share of row <paramref name="o"/> of a 2:4 weight times the input row whose quads start at
    /// <paramref name="xRow"/>. Stored chunk e of a row holds four of its groups (<see cref="TwoOfFourLayout"/>): their
    /// eight values, one 16-byte load (BF16; two for F32), and their eight 2-bit fields in order, one 16-bit load.
    /// Lane l of a step takes chunks base + l and base + team + l, so a warp's value loads are two contiguous 512
    /// bytes. Two chunks a step, not
    /// more: a chunk's four x quads take 16 registers, and where a step's x and values do not fit the register budget
    /// (<see cref="LaunchPlan.TwoOfFourGemv"/>) ptxas issues each value load just before its use, one memory latency
    /// a chunk (docs/gpu.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float TwoOfFourDot<TW>(ArrayView<Quad> x4, long xRow, TW values, ArrayView<ushort> index16, int o,
        int chunks, int team, int lane)
        where TW : struct, IWeightView
    {
        long valueBase = (long)o * chunks * 8, indexBase = (long)o * chunks;
        // The row's x as a view of its own, so a chunk's four quads are 32-bit offsets from one base.
        ArrayView<Quad> xr = x4.SubView(xRow, 4L * chunks);
        float acc = 0f, acc1 = 0f;
        int e = lane;
        for (; e + team < chunks; e += 2 * team)
        {
            int e1 = e + team;
            Octet v0 = values.Load8(valueBase + (8L * e)), v1 = values.Load8(valueBase + (8L * e1));
            uint f0 = index16[indexBase + e], f1 = index16[indexBase + e1];
            acc += Chunk24(xr, e, chunks, v0, f0);
            acc1 += Chunk24(xr, e1, chunks, v1, f1);
        }
        if (e < chunks)
        {
            acc += Chunk24(xr, e, chunks, values.Load8(valueBase + (8L * e)), index16[indexBase + e]);
        }
        return acc + acc1;
    }

    /// <summary>
    /// Stored chunk <paramref name="e"/>: value j (of eight) times the column its field (bits 2j, 2j + 1) names in
    /// the quad of slot j / 2's group, the groups <see cref="TwoOfFourLayout"/> put in the chunk.
    /// </summary>
    private static float Chunk24(ArrayView<Quad> xr, int e, int chunks, Octet v, uint fields)
    {
        int at = TwoOfFourLayout.FirstGroup(e), width = TwoOfFourLayout.BlockWidth(e, chunks);
        Quad a = xr[at], b = xr[at + width], c = xr[at + (2 * width)], d = xr[at + (3 * width)];
        return (v.Low.X * Pick(a, fields & 3u)) + (v.Low.Y * Pick(a, (fields >> 2) & 3u))
            + (v.Low.Z * Pick(b, (fields >> 4) & 3u)) + (v.Low.W * Pick(b, (fields >> 6) & 3u))
            + (v.High.X * Pick(c, (fields >> 8) & 3u)) + (v.High.Y * Pick(c, (fields >> 10) & 3u))
            + (v.High.Z * Pick(d, (fields >> 12) & 3u)) + (v.High.W * Pick(d, (fields >> 14) & 3u));
    }

    /// <summary>
    /// Element i of the quad. Written as three flat selects because ILGPU turns these into PTX selp, with no
    /// branch for lanes to diverge on; nested conditionals became branches (checked in the PTX), and an indexed
    /// register array would go to local memory.
    /// </summary>
    private static float Pick(Quad x, uint i)
    {
        float low = (i & 1u) == 0u ? x.X : x.Y;
        float high = (i & 1u) == 0u ? x.Z : x.W;
        return (i & 2u) == 0u ? low : high;
    }

    /// <summary>
    /// Bitmask: per row of W, ceil(cols/32) mask words (bit j of word w marks column 32w + j) and, per word, the index
    /// of its first stored value, so lanes can take words independently. A team of lanes per output feature.
    /// </summary>
    public static void Bitmask<TW>(ArrayView<float> x, TW values, ArrayView<uint> mask, ArrayView<uint> starts, ArrayView<float> y,
        int rows, int outs, int cols)
        where TW : struct, IWeightView
    {
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        int words = (cols + 31) / 32;
        for (int o = first; o < outs; o += stride)
        {
            long wordBase = (long)o * words;
            for (int r = 0; r < rows; r++)
            {
                float acc = BitmaskDot(x, (long)r * cols, values, mask, starts, wordBase, words, team, lane);
                OutputTeams.Store(y, ((long)r * outs) + o, acc, team, lane);
            }
        }
    }

    /// <summary>This lane's share of one bitmask row times the input row at <paramref name="xRow"/>: lanes take whole mask words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float BitmaskDot<TW>(ArrayView<float> x, long xRow, TW values, ArrayView<uint> mask, ArrayView<uint> starts, long wordBase,
        int words, int team, int lane)
        where TW : struct, IWeightView
    {
        float acc = 0f;
        for (int w = lane; w < words; w += team)
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
        return acc;
    }
}
