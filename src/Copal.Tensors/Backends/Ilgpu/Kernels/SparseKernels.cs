using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

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
    /// <summary>Groups a lane takes per step of <see cref="TwoOfFour"/>.</summary>
    private const int Unroll = 8;

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
    /// 2:4 with 2-bit fields, the common semi-structured pattern, laid out for decode's memory bound: a team of lanes
    /// (a warp on a GPU) per output feature, and lane l of a step takes chunk (or group) base + l, so the warp's reads
    /// of x (one 16-byte <see cref="Quad"/> per group, the group's four columns), of the values and of the index
    /// nibbles are each consecutive across lanes: whole cache lines, no gather. The stored values pick their columns
    /// from the quads in registers (see <see cref="TwoOfFourDot"/>). Input rows are looped inside, W's row re-read
    /// from cache.
    /// x is read as quads (cols is a multiple of 4, so every row starts 16-byte aligned).
    /// </summary>
    public static void TwoOfFour<TW>(ArrayView<float> x, TW values, ArrayView<byte> index, ArrayView<float> y,
        int rows, int outs, int cols, int indexStride)
        where TW : struct, IWeightView
    {
        ArrayView<Quad> x4 = x.Cast<Quad>();
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        int groups = cols >> 2;
        for (int o = first; o < outs; o += stride)
        {
            long valueBase = (long)o * groups * 2;
            long indexBase = (long)o * indexStride;
            for (int r = 0; r < rows; r++)
            {
                float acc = TwoOfFourDot(x4, (long)r * groups, values, valueBase, index, indexBase, groups, team, lane);
                OutputTeams.Store(y, ((long)r * outs) + o, acc, team, lane);
            }
        }
    }

    /// <summary>
    /// This lane's share of one 2:4 row times the input row whose quads start at <paramref name="xRow"/>. Where the
    /// row's groups come in whole chunks of four (cols a multiple of 16, so a chunk's eight values are one 16-byte
    /// load and its four nibbles one 16-bit load) lanes take chunks (<see cref="TwoOfFourChunks"/>); otherwise lane l
    /// of a step takes group base + l, and issues the loads of <see cref="Unroll"/> groups before it uses any.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float TwoOfFourDot<TW>(ArrayView<Quad> x4, long xRow, TW values, long valueBase, ArrayView<byte> index, long indexBase,
        int groups, int team, int lane)
        where TW : struct, IWeightView
    {
        // A row's values start on a multiple of 8 when groups is a multiple of 4; its nibbles on an even byte when the
        // index stride is even, checked per row since only the row base is known here.
        if ((groups & 3) == 0 && (indexBase & 1) == 0)
        {
            return TwoOfFourChunks(x4, xRow, values, valueBase, index.Cast<ushort>(), indexBase >> 1, groups >> 2, team, lane);
        }
        float acc = 0f, acc1 = 0f;
        int g = lane;
        for (; g + ((Unroll - 1) * team) < groups; g += Unroll * team)
        {
            // Loads first, all of them, then the arithmetic: the loads are independent, so they overlap.
            int g1 = g + team, g2 = g1 + team, g3 = g2 + team, g4 = g3 + team, g5 = g4 + team, g6 = g5 + team, g7 = g6 + team;
            uint n0 = Nibble(index, indexBase, g), n1 = Nibble(index, indexBase, g1), n2 = Nibble(index, indexBase, g2), n3 = Nibble(index, indexBase, g3);
            uint n4 = Nibble(index, indexBase, g4), n5 = Nibble(index, indexBase, g5), n6 = Nibble(index, indexBase, g6), n7 = Nibble(index, indexBase, g7);
            Quad x0 = x4[xRow + g], x1 = x4[xRow + g1], x2 = x4[xRow + g2], x3 = x4[xRow + g3];
            Quad x4v = x4[xRow + g4], x5 = x4[xRow + g5], x6 = x4[xRow + g6], x7 = x4[xRow + g7];
            acc += Group24(values, valueBase, g, x0, n0) + Group24(values, valueBase, g1, x1, n1)
                + Group24(values, valueBase, g2, x2, n2) + Group24(values, valueBase, g3, x3, n3);
            acc1 += Group24(values, valueBase, g4, x4v, n4) + Group24(values, valueBase, g5, x5, n5)
                + Group24(values, valueBase, g6, x6, n6) + Group24(values, valueBase, g7, x7, n7);
        }
        for (; g < groups; g += team)
        {
            acc += Group24(values, valueBase, g, x4[xRow + g], Nibble(index, indexBase, g));
        }
        return acc + acc1;
    }

    /// <summary>
    /// A 2:4 row in chunks of four groups (16 columns): chunk e's eight values are one 16-byte load (BF16; two for
    /// F32) and its four nibbles, the eight values' 2-bit fields in order, one 16-bit load. Lane l of a step takes
    /// chunk base + l, so a warp's value loads are one contiguous 512 bytes, and each lane issues four chunks' loads
    /// before it uses any: 2 KB of values in flight a warp, as the dense GEMV keeps. The per-group layout needs
    /// three load instructions for 4 bytes of values and index; this one, two for 18.
    /// </summary>
    private static float TwoOfFourChunks<TW>(ArrayView<Quad> x4, long xRow, TW values, long valueBase, ArrayView<ushort> index16, long index16Base,
        int chunks, int team, int lane)
        where TW : struct, IWeightView
    {
        float acc = 0f, acc1 = 0f, acc2 = 0f, acc3 = 0f;
        int e = lane;
        for (; e + (3 * team) < chunks; e += 4 * team)
        {
            int e1 = e + team, e2 = e1 + team, e3 = e2 + team;
            Octet v0 = values.Load8(valueBase + (8L * e)), v1 = values.Load8(valueBase + (8L * e1));
            Octet v2 = values.Load8(valueBase + (8L * e2)), v3 = values.Load8(valueBase + (8L * e3));
            uint f0 = index16[index16Base + e], f1 = index16[index16Base + e1], f2 = index16[index16Base + e2], f3 = index16[index16Base + e3];
            acc += Chunk24(x4, xRow + (4L * e), v0, f0);
            acc1 += Chunk24(x4, xRow + (4L * e1), v1, f1);
            acc2 += Chunk24(x4, xRow + (4L * e2), v2, f2);
            acc3 += Chunk24(x4, xRow + (4L * e3), v3, f3);
        }
        for (; e < chunks; e += team)
        {
            acc += Chunk24(x4, xRow + (4L * e), values.Load8(valueBase + (8L * e)), index16[index16Base + e]);
        }
        return (acc + acc1) + (acc2 + acc3);
    }

    /// <summary>One chunk: value j (of eight) times the column its field (bits 2j, 2j + 1) names in group j / 2's quad.</summary>
    private static float Chunk24(ArrayView<Quad> x4, long at, Octet v, uint fields)
    {
        Quad a = x4[at], b = x4[at + 1], c = x4[at + 2], d = x4[at + 3];
        return (v.Low.X * Pick(a, fields & 3u)) + (v.Low.Y * Pick(a, (fields >> 2) & 3u))
            + (v.Low.Z * Pick(b, (fields >> 4) & 3u)) + (v.Low.W * Pick(b, (fields >> 6) & 3u))
            + (v.High.X * Pick(c, (fields >> 8) & 3u)) + (v.High.Y * Pick(c, (fields >> 10) & 3u))
            + (v.High.Z * Pick(d, (fields >> 12) & 3u)) + (v.High.W * Pick(d, (fields >> 14) & 3u));
    }

    /// <summary>Group g's two 2-bit fields: nibble g of the row's index stream.</summary>
    private static uint Nibble(ArrayView<byte> index, long indexBase, int g) =>
        (uint)index[indexBase + (g >> 1)] >> ((g & 1) << 2);

    /// <summary>Group g's two values times the columns their fields name.</summary>
    private static float Group24<TW>(TW values, long valueBase, int g, Quad x, uint nibble)
        where TW : struct, IWeightView =>
        (values.Load(valueBase + (2L * g)) * Pick(x, nibble & 3u)) + (values.Load(valueBase + (2L * g) + 1) * Pick(x, (nibble >> 2) & 3u));

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
