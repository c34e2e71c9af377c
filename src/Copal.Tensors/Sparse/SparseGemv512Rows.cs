using System.Buffers;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Drives the AVX-512 GEMV row dots of <see cref="SparseGemv512"/> over a range of output rows: prepares x once
/// per range (the even/odd split for BF16 bitmask rows) and keeps the 64-byte overread of the bitmask expand
/// inside the values buffer by copying the few rows that end too close to it into a padded scratch.
/// </summary>
internal static unsafe class SparseGemv512Rows
{
    /// <summary>Bytes the bitmask expand may read past a row's last value.</summary>
    private const int Overread = 64;

    /// <summary>Bitmask F32/BF16 and 2:4 F32/BF16; other N:M patterns keep the generic path.</summary>
    public static bool Handles(SparseMatrix m) => m is BitmaskSparseMatrix || m is NMSparseMatrix { N: 2, M: 4 };

    public static void Run(float* x, SparseMatrix m, float* y, int outStart, int outEnd)
    {
        if (m is NMSparseMatrix nm)
        {
            byte* index = nm.IndexBlock.Data;
            int stride = nm.IndexStride;
            for (int r = outStart; r < outEnd; r++)
            {
                byte* values = nm.RowValues(r, out _);
                y[r] = nm.DType == DType.BF16
                    ? SparseGemv512.TwoFour<Bf16Wide>(index + (long)r * stride, values, nm.Cols, x)
                    : SparseGemv512.TwoFour<F32Wide>(index + (long)r * stride, values, nm.Cols, x);
            }
            return;
        }
        int cols = m.Cols, size = m.ValueSize;
        byte[] valueScratch = ArrayPool<byte>.Shared.Rent(cols * size + Overread);
        float[]? split = m.DType == DType.BF16 ? ArrayPool<float>.Shared.Rent(cols) : null;
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
                    y[r] = xs != null
                        ? SparseGemv512.BitmaskBf16(mask, (ushort*)values, cols, xs)
                        : SparseGemv512.BitmaskF32(mask, (float*)values, cols, x);
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
