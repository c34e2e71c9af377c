using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Tensors.Sparse;

/// <summary>
/// AVX-512 decode (GEMV) row dots. The AVX2 kernels expand 8 columns per table-driven shuffle whatever the
/// sparsity, which made them compute-bound and slower than dense; here one instruction covers 32 (BF16) or 16 (F32)
/// columns, so the kernels fall back under the memory bandwidth and their speed follows the compressed bytes.
/// <list type="bullet">
/// <item>Bitmask: VPEXPANDW / VEXPANDPS places the packed values of a 32/16-column chunk in their lanes (zeros
/// elsewhere) under the chunk's mask bits. BF16 values land as 16-bit words, so the even columns become f32 by a
/// shift and the odd ones by an AND; x is therefore pre-split into even and odd columns once per call.</item>
/// <item>2:4: every 32 columns hold exactly 16 values, so instead of expanding W the kernel gathers the 16 x
/// values those columns need with one VPERMT2PS driven by the 2-bit indices: one FMA per 16 kept values.</item>
/// </list>
/// Callers guarantee 64 readable bytes past a bitmask row's last value (the expand loads 32 values at once).
/// </summary>
internal static unsafe class SparseGemv512
{
    /// <summary>True when the AVX-512 paths may run (F, BW and VBMI2 for the word expand).</summary>
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512Vbmi2.IsSupported;

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

    /// <summary>Keeps the upper word of each dword: the odd column's BF16 bits, already in f32 position.</summary>
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
    /// Reorders x for <see cref="BitmaskBf16"/>: in each 32-column chunk the 16 even columns, then the 16 odd ones.
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

    /// <summary>Σ_c W[row, c]·x[c] for a BF16 bitmask row; <paramref name="xSplit"/> comes from <see cref="SplitEvenOdd"/>.</summary>
    public static float BitmaskBf16(byte* mask, ushort* values, int cols, float* xSplit)
    {
        int chunks = cols >> 5;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var acc2 = Vector512<float>.Zero;
        var acc3 = Vector512<float>.Zero;
        ushort* v = values;
        int k = 0;
        for (; k + 2 <= chunks; k += 2)
        {
            ulong mm = Unsafe.ReadUnaligned<ulong>(mask + (k << 2));
            uint m0 = (uint)mm, m1 = (uint)(mm >> 32);
            float* xc = xSplit + (k << 5);
            var e0 = ExpandWords(v, m0);
            v += BitOperations.PopCount(m0);
            var e1 = ExpandWords(v, m1);
            v += BitOperations.PopCount(m1);
            acc0 = Avx512F.FusedMultiplyAdd((e0 << 16).AsSingle(), Vector512.Load(xc), acc0);
            acc1 = Avx512F.FusedMultiplyAdd((e0 & HighHalf).AsSingle(), Vector512.Load(xc + 16), acc1);
            acc2 = Avx512F.FusedMultiplyAdd((e1 << 16).AsSingle(), Vector512.Load(xc + 32), acc2);
            acc3 = Avx512F.FusedMultiplyAdd((e1 & HighHalf).AsSingle(), Vector512.Load(xc + 48), acc3);
        }
        for (; k < chunks; k++)
        {
            uint m0 = Unsafe.ReadUnaligned<uint>(mask + (k << 2));
            float* xc = xSplit + (k << 5);
            var e0 = ExpandWords(v, m0);
            v += BitOperations.PopCount(m0);
            acc0 = Avx512F.FusedMultiplyAdd((e0 << 16).AsSingle(), Vector512.Load(xc), acc0);
            acc1 = Avx512F.FusedMultiplyAdd((e0 & HighHalf).AsSingle(), Vector512.Load(xc + 16), acc1);
        }
        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        // Columns past the last whole chunk: x there is unpermuted, values continue at v.
        for (int c = chunks << 5, j = 0; c < cols; c++)
        {
            if ((mask[c >> 3] >> (c & 7) & 1) != 0)
            {
                sum += Bf16.ToFloat(v[j++]) * xSplit[c];
            }
        }
        return sum;
    }

    /// <summary>Four 2:4 rows at once (whole 32-column chunks only; see <see cref="TwoFour{T}"/> for one row).</summary>
    /// <remarks>
    /// Rows 0/1 and 2/3 are addressed as base + stride and base2 + stride and every pointer advances by itself,
    /// so the loop needs few registers: with one pointer per row the JIT spilled pointers and accumulators.
    /// </remarks>
    public static void TwoFourx4<T>(byte* index, int indexStride, byte* values, int valueStride, int cols, float* x, float* sums)
        where T : IWideLoad16
    {
        int chunks = cols >> 5;
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero;
        var a3 = Vector512<float>.Zero;
        nint istride = indexStride, vstride = (nint)valueStride * T.Size;
        byte* i0 = index, i2 = index + 2 * istride;
        byte* w0 = values, w2 = values + 2 * vstride;
        float* xc = x;
        for (int k = 0; k < chunks; k++)
        {
            var lo = Vector512.Load(xc);
            var hi = Vector512.Load(xc + 16);
            a0 = Avx512F.FusedMultiplyAdd(T.Load(w0), Gather24(lo, hi, Unsafe.ReadUnaligned<uint>(i0)), a0);
            a1 = Avx512F.FusedMultiplyAdd(T.Load(w0 + vstride), Gather24(lo, hi, Unsafe.ReadUnaligned<uint>(i0 + istride)), a1);
            a2 = Avx512F.FusedMultiplyAdd(T.Load(w2), Gather24(lo, hi, Unsafe.ReadUnaligned<uint>(i2)), a2);
            a3 = Avx512F.FusedMultiplyAdd(T.Load(w2 + vstride), Gather24(lo, hi, Unsafe.ReadUnaligned<uint>(i2 + istride)), a3);
            xc += 32;
            i0 += 4;
            i2 += 4;
            w0 += 16 * T.Size;
            w2 += 16 * T.Size;
        }
        // Reduce before the (not inlined) tail calls: accumulators live across a call are spilled inside the loop.
        sums[0] = Vector512.Sum(a0);
        sums[1] = Vector512.Sum(a1);
        sums[2] = Vector512.Sum(a2);
        sums[3] = Vector512.Sum(a3);
        for (int r = 0; r < 4; r++)
        {
            sums[r] += TwoFourTail<T>(index + r * istride, values + r * vstride, cols, x);
        }
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

internal readonly unsafe struct Bf16Wide : IWideLoad16
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(byte* values)
        => (Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)values)) << 16).AsSingle();

    public static float Scalar(byte* values, int k) => Bf16.ToFloat(((ushort*)values)[k]);
}

internal readonly unsafe struct F32Wide : IWideLoad16
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(byte* values) => Vector512.Load((float*)values);

    public static float Scalar(byte* values, int k) => ((float*)values)[k];
}
