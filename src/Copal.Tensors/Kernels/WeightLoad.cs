using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Reads stored weight elements as f32 in registers. Kernels are generic over these structs so the JIT emits one
/// specialized loop per dtype with the conversion inlined; no f32 copy of a weight is ever made.
/// </summary>
internal unsafe interface IVectorWeightLoad
{
    /// <summary>The dtype this loader reads.</summary>
    static abstract DType DType { get; }

    /// <summary>Eight elements starting at element <paramref name="index"/> of <paramref name="row"/>.</summary>
    static abstract Vector256<float> Load8(byte* row, nint index);

    /// <summary>Sixteen elements starting at element <paramref name="index"/> (the Vector512 paths).</summary>
    static abstract Vector512<float> Load16(byte* row, nint index);
}

/// <summary>
/// A loader that also reads one element, for the kernels with scalar tails. The panel GEMV reads whole 32-row lines
/// of padded panels and has none, so it asks only for <see cref="IVectorWeightLoad"/>, all that
/// <see cref="F16PrescaledLoad"/> is.
/// </summary>
internal unsafe interface IWeightLoad : IVectorWeightLoad
{
    /// <summary>One element.</summary>
    static abstract float Load1(byte* row, nint index);
}

/// <summary>
/// A 16-bit dtype (BF16, F16) whose values can also arrive already placed in the upper half of 32-bit lanes, the
/// lower half zero: the sparse kernels' expand shuffles put them there. Converting from there shares the dense
/// load's conversion, so a sparse weight computes with exactly the values its dense form does.
/// </summary>
internal unsafe interface IHalfLoad : IWeightLoad
{
    /// <summary>Eight values given as their bits in the upper half of each lane (lower half zero), as f32.</summary>
    static abstract Vector256<float> FromHigh8(Vector256<int> high);

    /// <summary>Sixteen values given as <see cref="FromHigh8"/> takes them.</summary>
    static abstract Vector512<float> FromHigh16(Vector512<int> high);
}

internal readonly unsafe struct F32Load : IWeightLoad
{
    public static DType DType => DType.F32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index) => Vector256.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) => Vector512.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => ((float*)row)[index];
}

internal readonly unsafe struct Bf16Load : IHalfLoad
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
    public static Vector512<float> Load16(byte* row, nint index)
    {
        ushort* p = (ushort*)row + index;
        if (Avx512F.IsSupported)
        {
            return Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)), 16).AsSingle();
        }
        Vector256<ushort> v = Vector256.Load(p);
        return Vector512.ShiftLeft(Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v)), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => BitConverter.Int32BitsToSingle(((ushort*)row)[index] << 16);

    /// <summary>Nothing to do: bf16 bits in the upper half are the f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromHigh8(Vector256<int> high) => high.AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromHigh16(Vector512<int> high) => high.AsSingle();
}

internal readonly unsafe struct F16Load : IHalfLoad
{
    public static DType DType => DType.F16;

    /// <summary>
    /// IEEE half to single without F16C (the runtime exposes no vcvtph2ps): <see cref="F16FiniteLoad"/>'s
    /// conversion, exact for every finite half, gives Inf and NaN as finite values (|f| ≥ 2^16, above the largest
    /// half 65504), so those get their exponent forced to all ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index) => RestoreNonFinite(F16FiniteLoad.Load8(row, index));

    /// <summary>The same conversion as <see cref="Load8"/> on sixteen lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) => RestoreNonFinite(F16FiniteLoad.Load16(row, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[index]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromHigh8(Vector256<int> high) => RestoreNonFinite(F16FiniteLoad.FromHigh8(high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromHigh16(Vector512<int> high) => RestoreNonFinite(F16FiniteLoad.FromHigh16(high));

    /// <summary>The finite conversion's Inf and NaN come out at |f| ≥ 2^16: their exponent becomes all ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> RestoreNonFinite(Vector256<float> f)
    {
        Vector256<float> infNan = Vector256.GreaterThanOrEqual(Vector256.Abs(f), Vector256.Create(65536f));
        return f | (infNan & Vector256.Create(0x7F800000).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> RestoreNonFinite(Vector512<float> f)
    {
        Vector512<float> infNan = Vector512.GreaterThanOrEqual(Vector512.Abs(f), Vector512.Create(65536f));
        return f | (infNan & Vector512.Create(0x7F800000).AsSingle());
    }
}

/// <summary>
/// Half to single for weights checked finite (<see cref="WeightMatrix.FiniteVerified"/>), in four vector ops plus the
/// widen: sign-extend to 32 bits and shift up 13, so the sign lands in bit 31 and exponent+mantissa in bits 27..13;
/// clear the sign copies in bits 30..28; multiply by 2^112 to rebias the exponent (exact, and it turns half
/// subnormals into the right normal floats). Exact for every finite half. An Inf or NaN comes out finite, so only
/// checked weights take it; <see cref="F16Load"/> adds the patch for them, four more ops.
/// </summary>
internal readonly unsafe struct F16FiniteLoad : IHalfLoad
{
    public static DType DType => DType.F16;

    // The prescaled load's shift and mask, then the multiply by 2^112 that rebiases the exponent.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index) => F16PrescaledLoad.Load8(row, index) * Vector256.Create(0x77800000).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) => F16PrescaledLoad.Load16(row, index) * Vector512.Create(0x77800000).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => F16Load.Load1(row, index);

    /// <summary>
    /// The half in the upper half of the lane is the sign-extended half shifted up 16: an arithmetic shift right by
    /// 3 gives what <see cref="Load8"/>'s widen-and-shift-13 gives (the sign copied into bits 31..28).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromHigh8(Vector256<int> high)
    {
        Vector256<int> bits = Vector256.ShiftRightArithmetic(high, 3) & Vector256.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector256.Create(0x77800000).AsSingle(); // 2^112
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromHigh16(Vector512<int> high)
    {
        Vector512<int> bits = Vector512.ShiftRightArithmetic(high, 3) & Vector512.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector512.Create(0x77800000).AsSingle(); // 2^112
    }
}

/// <summary>
/// A finite half times 2^-112, for kernels whose inputs were multiplied by 2^112 (<see cref="F16InputScaling"/>):
/// <see cref="F16FiniteLoad"/>'s shift and mask without its multiply. The masked bits are the half times 2^-112
/// exactly (an f32 subnormal for a half subnormal), so each product with x·2^112 is the real number w·x, and an FMA
/// rounds it with its sum as it rounds w·x now: every result is the same to the bit. Two instructions after the
/// widen instead of three, for the eight-row panel GEMV that the conversion, not the memory, held back.
/// </summary>
internal readonly unsafe struct F16PrescaledLoad : IVectorWeightLoad
{
    public static DType DType => DType.F16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint index)
    {
        short* p = (short*)row + index;
        Vector256<int> h;
        if (Avx2.IsSupported)
        {
            h = Avx2.ConvertToVector256Int32(p);
        }
        else
        {
            Vector128<short> v = Vector128.Load(p);
            h = Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v));
        }
        return (Vector256.ShiftLeft(h, 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index)
    {
        short* p = (short*)row + index;
        Vector512<int> h;
        if (Avx512F.IsSupported)
        {
            h = Avx512F.ConvertToVector512Int32(Vector256.Load(p));
        }
        else
        {
            Vector256<short> v = Vector256.Load(p);
            h = Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v));
        }
        return (Vector512.ShiftLeft(h, 13) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();
    }
}
