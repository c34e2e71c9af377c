using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Tensors.Kernels;

/// <summary>
/// An 8×8 f32 transpose in registers, for GEMM packing: eight weight rows loaded along k become eight vectors
/// along the output features, written with eight vector stores instead of 64 scattered scalar ones (which also
/// stalled on 4 KiB aliasing between the stores and the next row's loads when row strides were regular).
/// </summary>
internal static unsafe class Transpose8x8
{
    public static bool IsSupported => Avx.IsSupported;

    /// <summary>Writes column e of the 8×8 block whose rows are r0…r7 to dst + e·stride, for e &lt; 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(
        Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        float* dst, nint stride)
    {
        // Pairs interleave (a0 b0 a1 b1 | a4 b4 a5 b5), quads gather one column per 128-bit lane, and the lane
        // swap joins rows 0–3 with rows 4–7.
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44);
        var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44);
        var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44);
        var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44);
        var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + stride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * stride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * stride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * stride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * stride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * stride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * stride, Avx.Permute2x128(s3, s7, 0x31));
    }
}
