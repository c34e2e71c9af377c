using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Numerics;

/// <summary>
/// Conversions between f32 and the 16-bit float formats checkpoints store: bfloat16 (the top half of an f32) and
/// IEEE half (F16, through <see cref="Half"/>). Narrowing rounds to nearest, ties to even; NaN stays NaN.
/// </summary>
internal static class FloatConvert
{
    /// <summary>The f32 whose top 16 bits are <paramref name="bits"/> (exact: every bf16 is an f32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>
    /// <paramref name="value"/> rounded to bf16, nearest with ties to even; overflow gives ±infinity, subnormals round
    /// like any other value. A NaN keeps its sign and top payload bits and is made quiet, so it cannot become infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }
        // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest, ties to the even kept value.
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The f32 value of the IEEE half with bit pattern <paramref name="bits"/>.</summary>
    public static float HalfToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>The bit pattern of <paramref name="value"/> rounded to IEEE half (nearest, ties to even).</summary>
    public static ushort SingleToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>destination[i] = bf16 value <paramref name="bf16"/>[i] as f32.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> bf16, Span<float> destination)
    {
        CheckLengths(bf16.Length, destination.Length);
        ref ushort src = ref MemoryMarshal.GetReference(bf16);
        ref uint dst = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= bf16.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref src, (nuint)i));
                (lo << 16).StoreUnsafe(ref dst, (nuint)i);
                (hi << 16).StoreUnsafe(ref dst, (nuint)(i + Vector256<uint>.Count));
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= bf16.Length - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                (Vector128<uint> lo, Vector128<uint> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref src, (nuint)i));
                (lo << 16).StoreUnsafe(ref dst, (nuint)i);
                (hi << 16).StoreUnsafe(ref dst, (nuint)(i + Vector128<uint>.Count));
            }
        }
        for (; i < bf16.Length; i++)
        {
            Unsafe.Add(ref dst, i) = (uint)Unsafe.Add(ref src, i) << 16;
        }
    }

    /// <summary>destination[i] = <paramref name="source"/>[i] rounded to bf16 exactly as <see cref="SingleToBF16"/> does.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        ref uint src = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref ushort dst = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                Vector256<uint> lo = RoundToBF16(Vector256.LoadUnsafe(ref src, (nuint)i));
                Vector256<uint> hi = RoundToBF16(Vector256.LoadUnsafe(ref src, (nuint)(i + Vector256<uint>.Count)));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                Vector128<uint> lo = RoundToBF16(Vector128.LoadUnsafe(ref src, (nuint)i));
                Vector128<uint> hi = RoundToBF16(Vector128.LoadUnsafe(ref src, (nuint)(i + Vector128<uint>.Count)));
                Vector128.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < source.Length; i++)
        {
            Unsafe.Add(ref dst, i) = SingleToBF16(BitConverter.UInt32BitsToSingle(Unsafe.Add(ref src, i)));
        }
    }

    /// <summary>destination[i] = <paramref name="source"/>[i] as f32 (IEEE half to single; vectorized by TensorPrimitives).</summary>
    public static void ToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToSingle(source, destination[..source.Length]);
    }

    /// <summary>destination[i] = <paramref name="source"/>[i] rounded to IEEE half, nearest with ties to even.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<Half> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToHalf(source, destination[..source.Length]);
    }

    /// <summary>
    /// Converts a stored F32, F16 or BF16 tensor to f32: destination[i] = element i of <paramref name="view"/>.
    /// Throws for other dtypes or a destination shorter than the tensor.
    /// </summary>
    public static void ToSingle(in TensorView view, Span<float> destination)
    {
        switch (view.DType)
        {
            case DType.F32:
                CheckLengths(view.ElementCount, destination.Length);
                view.AsSpan<float>().CopyTo(destination);
                break;
            case DType.BF16:
                ToSingle(view.AsSpan<ushort>(), destination);
                break;
            case DType.F16:
                ToSingle(view.AsSpan<Half>(), destination);
                break;
            default:
                throw new NotSupportedException($"tensor '{view.Name}' is {view.DType}; only F32, F16 and BF16 convert to f32");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBF16(Vector256<uint> bits)
    {
        Vector256<uint> rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        Vector256<uint> isNan = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(isNan, (bits >> 16) | Vector256.Create(0x0040u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RoundToBF16(Vector128<uint> bits)
    {
        Vector128<uint> rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >> 16) & Vector128<uint>.One)) >> 16;
        Vector128<uint> isNan = Vector128.GreaterThan(bits & Vector128.Create(0x7FFF_FFFFu), Vector128.Create(0x7F80_0000u));
        return Vector128.ConditionalSelect(isNan, (bits >> 16) | Vector128.Create(0x0040u), rounded);
    }

    private static void CheckLengths(long source, int destination)
    {
        if (destination < source)
        {
            throw new ArgumentException($"destination holds {destination} elements, expected at least {source}", nameof(destination));
        }
    }
}
