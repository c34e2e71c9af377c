using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Reads stored weight elements as f32 in registers. Kernels are generic over these structs so the JIT emits one
/// specialized loop per dtype with the conversion inlined; no f32 copy of a weight is ever made.
/// </summary>
internal unsafe interface IWeightLoad
{
    /// <summary>The dtype this loader reads.</summary>
    static abstract DType DType { get; }

    /// <summary>Eight elements starting at element <paramref name="index"/> of <paramref name="row"/>.</summary>
    static abstract Vector256<float> Load8(byte* row, nint index);

    /// <summary>One element.</summary>
    static abstract float Load1(byte* row, nint index);
}

internal readonly unsafe struct F32Load : IWeightLoad
{
    public static DType DType => DType.F32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index) => Vector256.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => ((float*)row)[index];
}

internal readonly unsafe struct Bf16Load : IWeightLoad
{
    public static DType DType => DType.BF16;

    /// <summary>bf16 is the top half of an f32: zero-extend the 16-bit lanes and shift them up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index)
    {
        ushort* p = (ushort*)row + index;
        if (Avx2.IsSupported)
        {
            return Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle();
        }
        Vector128<ushort> v = Vector128.Load(p);
        return Vector256.ShiftLeft(Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v)), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => BitConverter.Int32BitsToSingle(((ushort*)row)[index] << 16);
}

internal readonly unsafe struct F16Load : IWeightLoad
{
    public static DType DType => DType.F16;

    /// <summary>
    /// IEEE half to single without F16C (the runtime exposes no vcvtph2ps): place exponent and mantissa 13 bits
    /// up, multiply by 2^112 to rebias the exponent (this also turns half subnormals into the right normal
    /// floats), force the exponent to all ones for Inf/NaN, then put the sign back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index)
    {
        ushort* p = (ushort*)row + index;
        Vector256<uint> h;
        if (Avx2.IsSupported)
        {
            h = Avx2.ConvertToVector256Int32(p).AsUInt32();
        }
        else
        {
            Vector128<ushort> v = Vector128.Load(p);
            h = Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v));
        }
        Vector256<uint> sign = Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16);
        Vector256<uint> magnitude = h & Vector256.Create(0x7FFFu);
        Vector256<float> scaled = Vector256.ShiftLeft(magnitude, 13).AsSingle() * Vector256.Create(0x77800000u).AsSingle() /* 2^112 */;
        Vector256<uint> infNan = Vector256.GreaterThan(magnitude, Vector256.Create(0x7BFFu)) & Vector256.Create(0x7F800000u);
        return (scaled.AsUInt32() | infNan | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[index]);
}
