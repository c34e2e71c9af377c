using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Tensors.Sparse;

/// <summary>
/// The per-row work shared by every sparse format: a row is a bitmask plus its packed values. Callers guarantee
/// that 32 bytes past the row's last value are readable (the vector expand loads 8 values at a time).
/// </summary>
internal static unsafe class SparseRowKernels
{
    /// <summary>True when the AVX2 + FMA paths may run.</summary>
    public static bool Vectorized => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Σ_c W[row, c] · x[c] for one stored row.</summary>
    public static float Dot<T>(byte* mask, byte* values, int cols, float* x) where T : IValueExpand
    {
        if (!Vectorized)
        {
            return DotScalar<T>(mask, values, cols, x);
        }
        int chunks = cols >> 3;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        byte* v = values;
        int k = 0;
        // Four independent accumulators hide the FMA latency; the pointer chain costs one add per chunk.
        for (; k + 4 <= chunks; k += 4)
        {
            uint mm = Unsafe.ReadUnaligned<uint>(mask + k);
            float* xc = x + (k << 3);
            uint m0 = mm & 0xFF, m1 = (mm >> 8) & 0xFF, m2 = (mm >> 16) & 0xFF, m3 = mm >> 24;
            acc0 = Fma.MultiplyAdd(T.Expand(v, m0), Avx.LoadVector256(xc), acc0);
            v += BitOperations.PopCount(m0) * T.Size;
            acc1 = Fma.MultiplyAdd(T.Expand(v, m1), Avx.LoadVector256(xc + 8), acc1);
            v += BitOperations.PopCount(m1) * T.Size;
            acc2 = Fma.MultiplyAdd(T.Expand(v, m2), Avx.LoadVector256(xc + 16), acc2);
            v += BitOperations.PopCount(m2) * T.Size;
            acc3 = Fma.MultiplyAdd(T.Expand(v, m3), Avx.LoadVector256(xc + 24), acc3);
            v += BitOperations.PopCount(m3) * T.Size;
        }
        for (; k < chunks; k++)
        {
            uint m0 = mask[k];
            acc0 = Fma.MultiplyAdd(T.Expand(v, m0), Avx.LoadVector256(x + (k << 3)), acc0);
            v += BitOperations.PopCount(m0) * T.Size;
        }
        float sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        return sum + TailDot<T>(mask, v, cols, x);
    }

    /// <summary>The last partial chunk (cols not a multiple of 8), whose x lanes cannot be loaded as a vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailDot<T>(byte* mask, byte* v, int cols, float* x) where T : IValueExpand
    {
        int start = cols & ~7;
        if (start == cols)
        {
            return 0f;
        }
        uint m = mask[start >> 3];
        float sum = 0f;
        int j = 0;
        for (int c = start; c < cols; c++)
        {
            if ((m >> (c - start) & 1) != 0)
            {
                sum += T.Scalar(v, j++) * x[c];
            }
        }
        Debug.Assert(m >> (cols - start) == 0, "mask bits beyond the last column");
        return sum;
    }

    private static float DotScalar<T>(byte* mask, byte* values, int cols, float* x) where T : IValueExpand
    {
        float sum = 0f;
        int j = 0;
        for (int c = 0; c < cols; c++)
        {
            if ((mask[c >> 3] >> (c & 7) & 1) != 0)
            {
                sum += T.Scalar(values, j++) * x[c];
            }
        }
        return sum;
    }
}
