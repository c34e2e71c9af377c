using System.Buffers;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Drives the AVX-512 GEMV row dots of <see cref="SparseGemv512"/> over a range of output rows: prepares x once
/// per range (the even/odd split for BF16 and F16 bitmask rows) and keeps the 64-byte overread of the bitmask expand
/// inside the values buffer by copying the few rows that end too close to it into a padded scratch.
/// </summary>
internal static unsafe class SparseGemv512Rows
{
    /// <summary>Bytes the bitmask expand may read past a row's last value.</summary>
    private const int Overread = 64;

    /// <summary>Bitmask and 2:4 of every value dtype; other N:M patterns keep the generic path.</summary>
    public static bool Handles(SparseMatrix m) => m is BitmaskSparseMatrix || m is NMSparseMatrix { N: 2, M: 4 };

    /// <summary>Picks the kernels for the matrix's dtype: F16 checked finite skips the Inf/NaN handling, as dense F16 does.</summary>
    public static void Run(float* x, SparseMatrix m, float* y, int outStart, int outEnd)
    {
        switch (m.DType)
        {
            case DType.BF16: Run<HalfRows<Bf16Load>>(x, m, y, outStart, outEnd); break;
            case DType.F16 when m.FiniteVerified: Run<HalfRows<F16FiniteLoad>>(x, m, y, outStart, outEnd); break;
            case DType.F16: Run<HalfRows<F16Load>>(x, m, y, outStart, outEnd); break;
            default: Run<F32Rows>(x, m, y, outStart, outEnd); break;
        }
    }

    private static void Run<TRows>(float* x, SparseMatrix m, float* y, int outStart, int outEnd)
        where TRows : IRowDots512
    {
        if (m is NMSparseMatrix nm)
        {
            byte* index = nm.IndexBlock.Data;
            int stride = nm.IndexStride;
            for (int r = outStart; r < outEnd; r++)
            {
                byte* values = nm.RowValues(r, out _);
                y[r] = TRows.TwoFour(index + (long)r * stride, values, nm.Cols, x);
            }
            return;
        }
        int cols = m.Cols, size = m.ValueSize;
        byte[] valueScratch = ArrayPool<byte>.Shared.Rent(cols * size + Overread);
        float[]? split = TRows.SplitsX ? ArrayPool<float>.Shared.Rent(cols) : null;
        try
        {
            fixed (byte* vs = valueScratch)
            fixed (float* xs = split)
            {
                if (xs != null)
                {
                    SparseGemv512.SplitEvenOdd(x, cols, xs);
                }
                byte* valuesEnd = m.ValuesEnd;
                for (int r = outStart; r < outEnd; r++)
                {
                    byte* mask = m.RowMask(r, null);
                    byte* values = m.RowValues(r, out int count);
                    long rowBytes = (long)count * size;
                    if (values + rowBytes + Overread > valuesEnd)
                    {
                        new ReadOnlySpan<byte>(values, (int)rowBytes).CopyTo(new Span<byte>(vs, (int)rowBytes));
                        values = vs;
                    }
                    y[r] = TRows.Bitmask(mask, values, cols, xs != null ? xs : x);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(valueScratch);
            if (split is not null)
            {
                ArrayPool<float>.Shared.Return(split);
            }
        }
    }
}

/// <summary>One dtype's AVX-512 row dots, so one loop over the rows serves them all.</summary>
internal unsafe interface IRowDots512
{
    /// <summary>Whether the bitmask dot takes x split into even and odd columns (<see cref="SparseGemv512.SplitEvenOdd"/>).</summary>
    static abstract bool SplitsX { get; }

    static abstract float Bitmask(byte* mask, byte* values, int cols, float* x);

    static abstract float TwoFour(byte* index, byte* values, int cols, float* x);
}

internal readonly unsafe struct F32Rows : IRowDots512
{
    public static bool SplitsX => false;

    public static float Bitmask(byte* mask, byte* values, int cols, float* x) => SparseGemv512.BitmaskF32(mask, (float*)values, cols, x);

    public static float TwoFour(byte* index, byte* values, int cols, float* x) => SparseGemv512.TwoFour<F32Wide>(index, values, cols, x);
}

internal readonly unsafe struct HalfRows<TLoad> : IRowDots512
    where TLoad : IHalfLoad
{
    public static bool SplitsX => true;

    public static float Bitmask(byte* mask, byte* values, int cols, float* x) => SparseGemv512.BitmaskHalf<TLoad>(mask, (ushort*)values, cols, x);

    public static float TwoFour(byte* index, byte* values, int cols, float* x) => SparseGemv512.TwoFour<HalfWide<TLoad>>(index, values, cols, x);
}
