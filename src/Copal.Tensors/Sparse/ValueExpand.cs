using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>How one dtype's packed values become dense f32 lanes; plugged into the shared sparse loops.</summary>
internal unsafe interface IValueExpand
{
    /// <summary>Bytes per stored value.</summary>
    static abstract int Size { get; }

    /// <summary>The 8 columns of mask byte <paramref name="mask"/> as f32, reading the chunk's values from <paramref name="values"/>.</summary>
    static abstract Vector256<float> Expand(byte* values, uint mask);

    /// <summary>Stored value k as f32.</summary>
    static abstract float Scalar(byte* values, int k);
}

/// <summary>
/// BF16 and F16 values: broadcast 8 packed values to both lanes, one VPSHUFB places each in the upper half of its
/// f32 lane and zeroes the rest (BF16 is then the f32; F16 takes the dense kernels' conversion from there).
/// </summary>
internal readonly unsafe struct HalfExpand<TLoad> : IValueExpand
    where TLoad : IHalfLoad
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Expand(byte* values, uint mask)
        => TLoad.FromHigh8(Avx2.Shuffle(Avx2.BroadcastVector128ToVector256(values), SparseLuts.ExpandBf16[mask]).AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scalar(byte* values, int k) => TLoad.Load1(values, k);
}

/// <summary>F32 values: VPERMPS moves packed values to their lanes, an AND clears the unset lanes.</summary>
internal readonly unsafe struct F32Expand : IValueExpand
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Expand(byte* values, uint mask)
        => Avx.And(Avx2.PermuteVar8x32(Avx.LoadVector256((float*)values), SparseLuts.ExpandF32Index[mask]), SparseLuts.ExpandF32Keep[mask]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scalar(byte* values, int k) => ((float*)values)[k];
}
