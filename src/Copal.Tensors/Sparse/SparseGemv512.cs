using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>
/// AVX-512 decode (GEMV) row dots. The AVX2 kernels expand 8 columns per table-driven shuffle whatever the
/// sparsity, which made them compute-bound and slower than dense; here one instruction covers 32 (BF16, F16) or 16
/// (F32) columns, so the kernels fall back under the memory bandwidth and their speed follows the compressed bytes.
/// <list type="bullet">
/// <item>Bitmask: VPEXPANDW / VEXPANDPS places the packed values of a 32/16-column chunk in their lanes (zeros
/// elsewhere) under the chunk's mask bits. 16-bit values land as words, so the even columns reach the upper half
/// of an f32 lane by a shift and the odd ones by an AND (BF16 is then the f32, F16 is converted from there); x is
/// therefore pre-split into even and odd columns once per call.</item>
/// <item>2:4: every 32 columns hold exactly 16 values, so instead of expanding W the kernel gathers the 16 x
/// values those columns need with one VPERMT2PS driven by the 2-bit indices: one FMA per 16 kept values.</item>
/// </list>
/// Callers guarantee 64 readable bytes past a bitmask row's last value (the expand loads 32 values at once).
/// </summary>
internal static unsafe class SparseGemv512
{
    /// <summary>True when the AVX-512 paths may run (F, BW, VBMI for the mask multishift and VBMI2 for the word expand).</summary>
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512Vbmi.IsSupported && Avx512Vbmi2.IsSupported;

    // The lane constants below are properties that build the vector in place, not static readonly fields: the CLI
    // runs without tiered compilation, so these kernels are compiled before the class is initialized; a field read
    // then kept a class-initialization check (a helper call) inside the loop, which spilled every accumulator to
    // the stack on each iteration. Constants built in place are hoisted out of the loop into registers.

    /// <summary>Bit j of lane j (mod 16): ANDed with a broadcast mask it selects that lane's own column bit.</summary>
    private static Vector512<ushort> WordBits
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            (ushort)1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
            1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
    }

    /// <summary>Word lanes 0..15 take word 0 (the mask's low 16 bits), lanes 16..31 word 1.</summary>
    private static Vector512<ushort> HalfSelect
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create((ushort)0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    }

    /// <summary>Keeps the upper word of each dword: the odd column's 16 bits, in the upper half of its lane.</summary>
    private static Vector512<uint> HighHalf
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(0xFFFF0000u);
    }

    private static Vector512<uint> DwordBits
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
    }

    /// <summary>2:4 value k of a 32-column chunk: its index field sits at bits 2k..2k+1 and its group starts at 4·(k/2).</summary>
    private static Vector512<uint> IndexShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(0u, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    }

    private static Vector512<uint> GroupBase
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(0u, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
    }

    /// <summary>
    /// Reorders x for <see cref="BitmaskHalf{TLoad}"/>: in each 32-column chunk the 16 even columns, then the 16 odd ones.
    /// Columns past the last whole chunk are copied unchanged. <paramref name="split"/> holds at least cols floats.
    /// </summary>
    public static void SplitEvenOdd(float* x, int cols, float* split)
    {
        int whole = cols & ~31;
        var evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var oddIdx = evenIdx + Vector512<int>.One;
        for (int c = 0; c < whole; c += 32)
        {
            var lo = Vector512.Load(x + c);
            var hi = Vector512.Load(x + c + 16);
            Avx512F.PermuteVar16x32x2(lo, evenIdx, hi).Store(split + c);
            Avx512F.PermuteVar16x32x2(lo, oddIdx, hi).Store(split + c + 16);
        }
        for (int c = whole; c < cols; c++)
        {
            split[c] = x[c];
        }
    }

    /// <summary>
    /// Multishift controls that put mask bit j (chunk A: bits 0..31 of a qword) or 32 + j (chunk B) at the sign bit
    /// of word lane j: the lane's high byte takes qword bits j − 7 .. j (mod 64), its low byte is don't-care.
    /// </summary>
    private static Vector512<byte> SignOfBitA
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            (byte)0, 57, 0, 58, 0, 59, 0, 60, 0, 61, 0, 62, 0, 63, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8,
            0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0, 16, 0, 17, 0, 18, 0, 19, 0, 20, 0, 21, 0, 22, 0, 23, 0, 24);
    }

    private static Vector512<byte> SignOfBitB
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            (byte)0, 25, 0, 26, 0, 27, 0, 28, 0, 29, 0, 30, 0, 31, 0, 32, 0, 33, 0, 34, 0, 35, 0, 36, 0, 37, 0, 38, 0, 39, 0, 40,
            0, 41, 0, 42, 0, 43, 0, 44, 0, 45, 0, 46, 0, 47, 0, 48, 0, 49, 0, 50, 0, 51, 0, 52, 0, 53, 0, 54, 0, 55, 0, 56);
    }

    /// <summary>
    /// Σ_c W[row, c]·x[c] for a BF16 or F16 bitmask row (<typeparamref name="TLoad"/> converts the values the
    /// expand leaves in the upper half of each lane); <paramref name="xSplit"/> comes from <see cref="SplitEvenOdd"/>.
    /// </summary>
    /// <remarks>
    /// Two measured changes (docs/sparse-formats.md, third session) over the first version, which built each chunk's
    /// lane mask from a scalar with broadcast + VPERMW + AND + compare:
    /// <list type="bullet">
    /// <item>The 64 mask bits of two chunks are broadcast straight from memory and one VPMULTISHIFTQB per chunk moves
    /// bit j to the sign of word lane j (a sign test makes it the expand's mask): fewer vector ops, about 1.1×.</item>
    /// <item>Non-temporal prefetches 4 KiB ahead on the values and 1 KiB ahead on the mask. Wide rows (down_proj,
    /// 5632 columns) were twice as slow per weight as narrow ones because the weight stream evicted the 22 KiB of x
    /// from L1; NTA lines are evicted first, which took that shape from about 1.2× to about 2.5× dense.</item>
    /// </list>
    /// </remarks>
    public static float BitmaskHalf<TLoad>(byte* mask, ushort* values, int cols, float* xSplit)
        where TLoad : IHalfLoad
    {
        int chunks = cols >> 5;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var acc2 = Vector512<float>.Zero;
        var acc3 = Vector512<float>.Zero;
        ushort* v = values;
        int k = 0;
        for (; k + 4 <= chunks; k += 4)
        {
            byte* mk = mask + (k << 2);
            Sse.PrefetchNonTemporal(v + 2048);
            Sse.PrefetchNonTemporal(mk + 1024);
            ulong m01 = Unsafe.ReadUnaligned<ulong>(mk), m23 = Unsafe.ReadUnaligned<ulong>(mk + 8);
            var b01 = BroadcastQword(mk);
            var b23 = BroadcastQword(mk + 8);
            float* xc = xSplit + (k << 5);
            var e0 = ExpandWords(v, Avx512Vbmi.MultiShift(SignOfBitA, b01));
            v += BitOperations.PopCount((uint)m01);
            var e1 = ExpandWords(v, Avx512Vbmi.MultiShift(SignOfBitB, b01));
            v += BitOperations.PopCount((uint)(m01 >> 32));
            acc0 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e0 << 16).AsInt32()), Vector512.Load(xc), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e0 & HighHalf).AsInt32()), Vector512.Load(xc + 16), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e1 << 16).AsInt32()), Vector512.Load(xc + 32), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e1 & HighHalf).AsInt32()), Vector512.Load(xc + 48), acc3);
            var e2 = ExpandWords(v, Avx512Vbmi.MultiShift(SignOfBitA, b23));
            v += BitOperations.PopCount((uint)m23);
            var e3 = ExpandWords(v, Avx512Vbmi.MultiShift(SignOfBitB, b23));
            v += BitOperations.PopCount((uint)(m23 >> 32));
            acc0 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e2 << 16).AsInt32()), Vector512.Load(xc + 64), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e2 & HighHalf).AsInt32()), Vector512.Load(xc + 80), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e3 << 16).AsInt32()), Vector512.Load(xc + 96), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e3 & HighHalf).AsInt32()), Vector512.Load(xc + 112), acc3);
        }
        for (; k < chunks; k++)
        {
            uint m0 = Unsafe.ReadUnaligned<uint>(mask + (k << 2));
            float* xc = xSplit + (k << 5);
            var e0 = ExpandWords(v, m0);
            v += BitOperations.PopCount(m0);
            acc0 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e0 << 16).AsInt32()), Vector512.Load(xc), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(TLoad.FromHigh16((e0 & HighHalf).AsInt32()), Vector512.Load(xc + 16), acc1);
        }
        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        // Columns past the last whole chunk: x there is unpermuted, values continue at v.
        for (int c = chunks << 5, j = 0; c < cols; c++)
        {
            if ((mask[c >> 3] >> (c & 7) & 1) != 0)
            {
                sum += TLoad.Load1((byte*)v, j++) * xSplit[c];
            }
        }
        return sum;
    }

    /// <summary>Σ_c W[row, c]·x[c] for an F32 bitmask row.</summary>
    public static float BitmaskF32(byte* mask, float* values, int cols, float* x)
    {
        int chunks = cols >> 4;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var acc2 = Vector512<float>.Zero;
        var acc3 = Vector512<float>.Zero;
        float* v = values;
        int k = 0;
        for (; k + 4 <= chunks; k += 4)
        {
            ulong mm = Unsafe.ReadUnaligned<ulong>(mask + (k << 1));
            uint m0 = (uint)mm & 0xFFFF, m1 = (uint)(mm >> 16) & 0xFFFF, m2 = (uint)(mm >> 32) & 0xFFFF, m3 = (uint)(mm >> 48);
            float* xc = x + (k << 4);
            var e0 = ExpandFloats(v, m0);
            v += BitOperations.PopCount(m0);
            var e1 = ExpandFloats(v, m1);
            v += BitOperations.PopCount(m1);
            var e2 = ExpandFloats(v, m2);
            v += BitOperations.PopCount(m2);
            var e3 = ExpandFloats(v, m3);
            v += BitOperations.PopCount(m3);
            acc0 = Avx512F.FusedMultiplyAdd(e0, Vector512.Load(xc), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(e1, Vector512.Load(xc + 16), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(e2, Vector512.Load(xc + 32), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(e3, Vector512.Load(xc + 48), acc3);
        }
        for (; k < chunks; k++)
        {
            uint m0 = Unsafe.ReadUnaligned<ushort>(mask + (k << 1));
            var e0 = ExpandFloats(v, m0);
            v += BitOperations.PopCount(m0);
            acc0 = Avx512F.FusedMultiplyAdd(e0, Vector512.Load(x + (k << 4)), acc0);
        }
        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        for (int c = chunks << 4, j = 0; c < cols; c++)
        {
            if ((mask[c >> 3] >> (c & 7) & 1) != 0)
            {
                sum += v[j++] * x[c];
            }
        }
        return sum;
    }

    /// <summary>
    /// Σ_c W[row, c]·x[c] for a 2:4 row: <paramref name="index"/> is the row's nibble stream (two 2-bit fields per
    /// group), <paramref name="values"/> its cols/2 values. <typeparamref name="T"/> widens 16 values to f32.
    /// </summary>
    public static float TwoFour<T>(byte* index, byte* values, int cols, float* x) where T : IWideLoad16
    {
        int chunks = cols >> 5;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int k = 0;
        for (; k + 2 <= chunks; k += 2)
        {
            ulong ii = Unsafe.ReadUnaligned<ulong>(index + (k << 2));
            // Non-temporal prefetch 4 KiB ahead (as in BitmaskHalf): it keeps wide rows' x in L1; it replaced a
            // four-row kernel that shared x loads (down_proj 1.3× dense with it, about 2× with this).
            Sse.PrefetchNonTemporal(values + ((k << 4) * T.Size) + 4096);
            Sse.PrefetchNonTemporal(index + (k << 2) + 512);
            float* xc = x + (k << 5);
            var g0 = Gather24(Vector512.Load(xc), Vector512.Load(xc + 16), (uint)ii);
            var g1 = Gather24(Vector512.Load(xc + 32), Vector512.Load(xc + 48), (uint)(ii >> 32));
            acc0 = Avx512F.FusedMultiplyAdd(T.Load(values + (k << 4) * T.Size), g0, acc0);
            acc1 = Avx512F.FusedMultiplyAdd(T.Load(values + ((k + 1) << 4) * T.Size), g1, acc1);
        }
        for (; k < chunks; k++)
        {
            float* xc = x + (k << 5);
            var g0 = Gather24(Vector512.Load(xc), Vector512.Load(xc + 16), Unsafe.ReadUnaligned<uint>(index + (k << 2)));
            acc0 = Avx512F.FusedMultiplyAdd(T.Load(values + (k << 4) * T.Size), g0, acc0);
        }
        return Vector512.Sum(acc0 + acc1) + TwoFourTail<T>(index, values, cols, x);
    }

    /// <summary>The groups past the last whole 32-column chunk of a 2:4 row: two values per group, one nibble each.</summary>
    private static float TwoFourTail<T>(byte* index, byte* values, int cols, float* x) where T : IWideLoad16
    {
        float sum = 0f;
        for (int g = (cols >> 5) << 3, groups = cols >> 2; g < groups; g++)
        {
            int nibble = index[g >> 1] >> ((g & 1) << 2);
            sum += T.Scalar(values, 2 * g) * x[4 * g + (nibble & 3)];
            sum += T.Scalar(values, 2 * g + 1) * x[4 * g + ((nibble >> 2) & 3)];
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Gather24(Vector512<float> lo, Vector512<float> hi, uint fields)
    {
        // (field & 3) | group base in one VPTERNLOGD (0xEA = A & B | C); the base's low two bits are zero.
        var idx = Avx512F.TernaryLogic(Avx512F.ShiftRightLogicalVariable(Vector512.Create(fields), IndexShift), Vector512.Create(3u), GroupBase, 0xEA);
        return Avx512F.PermuteVar16x32x2(lo, idx.AsInt32(), hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> ExpandWords(ushort* v, uint m)
    {
        // One broadcast and one VPERMW put the mask's low half in word lanes 0..15 and its high half in 16..31
        // (two word broadcasts and two inserts before, with a false dependency on the previous iteration).
        var halves = Avx512BW.PermuteVar32x16(Vector512.Create(m).AsUInt16(), HalfSelect);
        var keep = Vector512.Equals(halves & WordBits, WordBits);
        return Avx512Vbmi2.Expand(Vector512<ushort>.Zero, keep, Vector512.Load(v)).AsUInt32();
    }

    /// <summary>Expands the next values into the word lanes whose sign bit is set in <paramref name="signs"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> ExpandWords(ushort* v, Vector512<byte> signs)
    {
        var keep = Vector512.LessThan(signs.AsInt16(), Vector512<short>.Zero).AsUInt16();
        return Avx512Vbmi2.Expand(Vector512<ushort>.Zero, keep, Vector512.Load(v)).AsUInt32();
    }

    /// <summary>Eight copies of the qword at <paramref name="p"/>, loaded by the broadcast itself (no scalar-to-vector move).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> BroadcastQword(byte* p)
        => Avx512F.BroadcastScalarToVector512(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(p)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpandFloats(float* v, uint m)
    {
        var keep = Vector512.Equals(Vector512.Create(m) & DwordBits, DwordBits).AsSingle();
        return Avx512F.Expand(Vector512<float>.Zero, keep, Vector512.Load(v));
    }
}

/// <summary>Loads 16 stored values as f32 lanes (the 2:4 kernel's value stream).</summary>
internal unsafe interface IWideLoad16
{
    static abstract int Size { get; }

    static abstract Vector512<float> Load(byte* values);

    static abstract float Scalar(byte* values, int k);
}

/// <summary>BF16 or F16 values, widened by the dense kernels' 16-lane load.</summary>
internal readonly unsafe struct HalfWide<TLoad> : IWideLoad16
    where TLoad : IHalfLoad
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(byte* values) => TLoad.Load16(values, 0);

    public static float Scalar(byte* values, int k) => TLoad.Load1(values, k);
}

internal readonly unsafe struct F32Wide : IWideLoad16
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(byte* values) => Vector512.Load((float*)values);

    public static float Scalar(byte* values, int k) => ((float*)values)[k];
}
