using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Numerics;

/// <summary>
/// Finds NaN and ±Inf in stored floating-point data without converting it: a value is non-finite exactly when all
/// its exponent bits are set, so one AND and one compare per element decide, in the widest vectors the machine has.
/// </summary>
internal static class NonFinite
{
    private const ushort BF16Exponent = 0x7F80;
    private const ushort F16Exponent = 0x7C00;
    private const uint F32Exponent = 0x7F80_0000;
    private const ulong F64Exponent = 0x7FF0_0000_0000_0000;

    /// <summary>Whether <paramref name="dtype"/> is a floating-point type this class can scan (F32, F16, BF16, F64).</summary>
    public static bool Applies(DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16 or DType.F64;

    /// <summary>
    /// The index of the first NaN or infinity among elements [<paramref name="start"/>, start + <paramref name="count"/>)
    /// of <paramref name="view"/>, or -1 when all are finite (always -1 for non-float dtypes).
    /// </summary>
    public static unsafe long IndexOf(TensorView view, long start, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, view.ElementCount);
        if (!Applies(view.DType))
        {
            return -1;
        }
        int size = view.DType.SizeOf();
        long offset = start;
        while (count > 0)
        {
            // Spans hold at most int.MaxValue elements.
            int n = (int)Math.Min(count, 1 << 30);
            void* p = view.Data + (offset * size);
            int i = view.DType switch
            {
                DType.BF16 => IndexOf(new ReadOnlySpan<ushort>(p, n), BF16Exponent),
                DType.F16 => IndexOf(new ReadOnlySpan<ushort>(p, n), F16Exponent),
                DType.F32 => IndexOf(new ReadOnlySpan<uint>(p, n), F32Exponent),
                _ => IndexOf(new ReadOnlySpan<ulong>(p, n), F64Exponent),
            };
            if (i >= 0)
            {
                return offset + i;
            }
            offset += n;
            count -= n;
        }
        return -1;
    }

    /// <summary>The index of the first NaN or infinity in <paramref name="values"/>, or -1.</summary>
    public static int IndexOf(ReadOnlySpan<float> values) => IndexOf(MemoryMarshal.Cast<float, uint>(values), F32Exponent);

    /// <summary>"NaN", "+Inf" or "-Inf" for element <paramref name="index"/> of <paramref name="view"/> (which must be non-finite).</summary>
    public static unsafe string Describe(TensorView view, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, view.ElementCount);
        byte* p = view.Data + (index * view.DType.SizeOf());
        double value = view.DType switch
        {
            DType.BF16 => FloatConvert.BF16ToSingle(*(ushort*)p),
            DType.F16 => (double)*(Half*)p,
            DType.F32 => *(float*)p,
            DType.F64 => *(double*)p,
            _ => 0,
        };
        return Describe(value);
    }

    /// <summary>"NaN", "+Inf", "-Inf", or the value itself when finite.</summary>
    public static string Describe(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A flat row-major index as <c>[i, j, …]</c> over <paramref name="shape"/>.</summary>
    public static string Coordinates(long index, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var parts = new long[shape.Count];
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            long extent = Math.Max(1, shape[d]);
            parts[d] = index % extent;
            index /= extent;
        }
        return "[" + string.Join(", ", parts) + "]";
    }

    // The first element whose exponent bits are all set. Vectors of four are OR-ed before one test; the scalar tail
    // (or the vector block that hit) finds the exact index.
    private static int IndexOf<T>(ReadOnlySpan<T> bits, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        ref T start = ref MemoryMarshal.GetReference(bits);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && bits.Length >= Vector512<T>.Count * 4)
        {
            var e = Vector512.Create(exponent);
            int step = Vector512<T>.Count;
            for (; i <= bits.Length - (4 * step); i += 4 * step)
            {
                Vector512<T> hit = Vector512.Equals(Vector512.LoadUnsafe(ref start, (nuint)i) & e, e)
                    | Vector512.Equals(Vector512.LoadUnsafe(ref start, (nuint)(i + step)) & e, e)
                    | Vector512.Equals(Vector512.LoadUnsafe(ref start, (nuint)(i + (2 * step))) & e, e)
                    | Vector512.Equals(Vector512.LoadUnsafe(ref start, (nuint)(i + (3 * step))) & e, e);
                if (hit != Vector512<T>.Zero)
                {
                    break;
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated && bits.Length >= Vector256<T>.Count * 4)
        {
            var e = Vector256.Create(exponent);
            int step = Vector256<T>.Count;
            for (; i <= bits.Length - (4 * step); i += 4 * step)
            {
                Vector256<T> hit = Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)i) & e, e)
                    | Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)(i + step)) & e, e)
                    | Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)(i + (2 * step))) & e, e)
                    | Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)(i + (3 * step))) & e, e);
                if (hit != Vector256<T>.Zero)
                {
                    break;
                }
            }
        }
        for (; i < bits.Length; i++)
        {
            if ((Unsafe.Add(ref start, i) & exponent) == exponent)
            {
                return i;
            }
        }
        return -1;
    }
}
