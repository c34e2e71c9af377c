using Copal.Tensors.Sparse;

namespace Copal.Tensors.Tests.Sparse;

/// <summary>
/// The vector, row-parallel conversions, and the way back to dense, against a scalar reference that follows
/// docs/sparse-formats.md element by element: the same bytes, on widths that end inside a 64-column mask word, on
/// matrices large enough to be shared out in several row blocks, and with −0 (a zero) and NaN (a nonzero) among the
/// values.
/// </summary>
public class SparseConversionTests
{
    public static TheoryData<DType, int, int, int, int> NMCases()
    {
        var data = new TheoryData<DType, int, int, int, int>();
        foreach (DType dtype in new[] { DType.F32, DType.BF16 })
        {
            data.Add(dtype, 3, 4, 2, 4);
            data.Add(dtype, 5, 60, 2, 4);
            data.Add(dtype, 7, 200, 2, 4);
            data.Add(dtype, 5000, 68, 2, 4);
            data.Add(dtype, 9, 136, 4, 8);
            data.Add(dtype, 6, 75, 3, 5);
            data.Add(dtype, 4, 130, 1, 2);
            data.Add(dtype, 3, 96, 7, 16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(NMCases))]
    public void NM_conversion_stores_the_reference_bytes(DType dtype, int rows, int cols, int n, int m)
    {
        byte[] raw = WithSignedZerosAndNaNs(SparseTestMatrices.NM(new Random(rows + cols + n), dtype, rows, cols, n, m), dtype, new Random(5));
        using var pinned = new PinnedTensor("w", dtype, [rows, cols], raw);
        using var matrix = NMSparseMatrix.FromTensor(pinned.View, n, m);
        var (values, index, dense) = ReferenceNM(raw, dtype, rows, cols, n, m);
        Assert.Equal(values, matrix.ValueBytes.ToArray());
        Assert.Equal(index, matrix.Index.ToArray());
        AssertDensifies(matrix, dense, dtype);
    }

    [Theory]
    [InlineData(DType.F32, 3, 5, 0.5)]
    [InlineData(DType.BF16, 3, 5, 0.5)]
    [InlineData(DType.F32, 7, 203, 0.7)]
    [InlineData(DType.BF16, 7, 64, 0.3)]
    [InlineData(DType.BF16, 4100, 70, 0.6)]
    [InlineData(DType.F32, 4100, 70, 0.0)]
    [InlineData(DType.BF16, 5, 130, 1.0)]
    public void Bitmask_conversion_stores_the_reference_bytes(DType dtype, int rows, int cols, double sparsity)
    {
        byte[] raw = WithSignedZerosAndNaNs(SparseTestMatrices.Unstructured(new Random(rows * cols), dtype, rows, cols, sparsity), dtype, new Random(6));
        using var pinned = new PinnedTensor("w", dtype, [rows, cols], raw);
        using var matrix = BitmaskSparseMatrix.FromTensor(pinned.View);
        var (mask, offsets, values, dense) = ReferenceBitmask(raw, dtype, rows, cols);
        Assert.Equal(mask, matrix.Mask.ToArray());
        Assert.Equal(offsets, matrix.Offsets.ToArray());
        Assert.Equal(values, matrix.ValueBytes.ToArray());
        AssertDensifies(matrix, dense, dtype);
    }

    /// <summary>Back to dense, raw and as f32: the stored values at their columns, +0 everywhere else.</summary>
    private static void AssertDensifies(SparseMatrix matrix, byte[] dense, DType dtype)
    {
        byte[] raw = new byte[dense.Length];
        matrix.ToDenseRaw(raw);
        Assert.Equal(dense, raw);
        float[] widened = new float[matrix.Rows * matrix.Cols];
        matrix.ToDense(widened);
        Assert.Equal(SparseTestMatrices.Widen(dense, dtype).Select(BitConverter.SingleToUInt32Bits), widened.Select(BitConverter.SingleToUInt32Bits));
    }

    [Theory]
    [InlineData(DType.BF16, 5000, 72, 2, 4, true)]
    [InlineData(DType.F32, 9, 72, 2, 4, true)]
    [InlineData(DType.BF16, 9, 72, 4, 8, true)]
    [InlineData(DType.F32, 9, 76, 2, 4, true)]
    [InlineData(DType.BF16, 9, 203, 0, 0, false)]
    [InlineData(DType.F32, 5000, 64, 0, 0, false)]
    public void Measure_agrees_with_an_element_by_element_count(DType dtype, int rows, int cols, int n, int m, bool structured)
    {
        var rnd = new Random(rows + cols);
        byte[] raw = structured ? SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m) : SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, 0.5);
        raw = WithSignedZerosAndNaNs(raw, dtype, new Random(7));
        using var pinned = new PinnedTensor("w", dtype, [rows, cols], raw);
        SparsityStats stats = SparsityAdvisor.Measure(pinned.View);
        bool[] nonzero = Nonzeros(raw, dtype);
        Assert.Equal(nonzero.Count(z => !z) / (double)nonzero.Length, stats.Sparsity);
        Assert.Equal(KeepsNM(nonzero, rows, cols, 2, 4), stats.Valid24);
        Assert.Equal(KeepsNM(nonzero, rows, cols, 4, 8), stats.Valid48);
    }

    [Fact]
    public void Measure_finds_a_single_broken_group_in_the_last_row_block()
    {
        int rows = 5000, cols = 64;
        byte[] raw = SparseTestMatrices.NM(new Random(9), DType.BF16, rows, cols, 2, 4);
        // Three nonzeros in the last group of the last row: 2:4 breaks; 4:8 is checked against the reference.
        int last = (rows * cols) - 4;
        for (int j = 0; j < 4; j++)
        {
            raw[2 * (last + j)] = 0;
            raw[(2 * (last + j)) + 1] = (byte)(j < 3 ? 0x3F : 0);
        }
        using var pinned = new PinnedTensor("w", DType.BF16, [rows, cols], raw);
        SparsityStats stats = SparsityAdvisor.Measure(pinned.View);
        Assert.False(stats.Valid24);
        Assert.Equal(KeepsNM(Nonzeros(raw, DType.BF16), rows, cols, 4, 8), stats.Valid48);
    }

    /// <summary>A group with exactly N nonzeros before the bad one is full, not bad: the message names the bad group.</summary>
    [Fact]
    public void NM_conversion_names_the_group_over_N_not_a_full_one_before_it()
    {
        float[] dense = new float[2 * 8];
        dense[8 + 1] = 1;
        dense[8 + 2] = 2;
        dense[8 + 4] = 3;
        dense[8 + 5] = 4;
        dense[8 + 7] = 5;
        var e = Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("w", dense, 2, 8, 2, 4));
        Assert.Contains("row 1, group 1 (columns 4..7) has 3 nonzeros; 2:4 allows at most 2", e.Message);
    }

    [Fact]
    public void NM_conversion_reports_the_first_bad_row_whichever_row_block_finishes_first()
    {
        int rows = 12000, cols = 64;
        float[] dense = new float[rows * cols];
        // Bad rows in three row blocks; the first one (row 4200, group 3) is the one named.
        foreach (int r in new[] { 11000, 4200, 9000 })
        {
            dense[(r * cols) + 12] = 1;
            dense[(r * cols) + 13] = 2;
            dense[(r * cols) + 15] = 3;
        }
        var e = Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("w", dense, rows, cols, 2, 4));
        Assert.Contains("row 4200, group 3 (columns 12..15) has 3 nonzeros", e.Message);
    }

    /// <summary>Turns some zeros into −0 and some nonzeros into NaN: the conversions must treat them as zero and nonzero.</summary>
    private static byte[] WithSignedZerosAndNaNs(byte[] raw, DType dtype, Random rnd)
    {
        byte[] copy = (byte[])raw.Clone();
        int size = dtype.SizeOf();
        for (int i = 0; i < copy.Length / size; i++)
        {
            int top = (i * size) + size - 1;
            bool zero = IsZero(copy, dtype, i);
            if (zero && rnd.Next(3) == 0)
            {
                copy[top] = 0x80;
            }
            else if (!zero && rnd.Next(50) == 0)
            {
                copy[top] = 0x7F;
                copy[top - 1] = 0xC0;
            }
        }
        return copy;
    }

    private static bool IsZero(byte[] raw, DType dtype, long i)
        => dtype == DType.F32 ? BitConverter.ToSingle(raw, (int)(i * 4)) == 0f : (BitConverter.ToUInt16(raw, (int)(i * 2)) & 0x7FFF) == 0;

    private static bool[] Nonzeros(byte[] raw, DType dtype)
        => Enumerable.Range(0, raw.Length / dtype.SizeOf()).Select(i => !IsZero(raw, dtype, i)).ToArray();

    private static bool KeepsNM(bool[] nonzero, int rows, int cols, int n, int m)
    {
        if (cols % m != 0)
        {
            return false;
        }
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < cols; g += m)
            {
                if (Enumerable.Range(g, m).Count(c => nonzero[(r * cols) + c]) > n)
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>N:M as the format defines it: every nonzero, then the leftmost zeros, in column order; fields LSB first.</summary>
    private static (byte[] Values, byte[] Index, byte[] Dense) ReferenceNM(byte[] raw, DType dtype, int rows, int cols, int n, int m)
    {
        int size = dtype.SizeOf(), bits = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(m - 1));
        int stride = ((cols / m * n * bits) + 7) / 8;
        var values = new List<byte>();
        byte[] index = new byte[rows * stride];
        byte[] dense = new byte[raw.Length];
        for (int r = 0; r < rows; r++)
        {
            int bit = 0;
            for (int g = 0; g < cols; g += m)
            {
                var nonzeros = Enumerable.Range(0, m).Where(j => !IsZero(raw, dtype, ((long)r * cols) + g + j)).ToList();
                var zeros = Enumerable.Range(0, m).Except(nonzeros).Take(n - nonzeros.Count);
                foreach (int j in nonzeros.Concat(zeros).Order())
                {
                    raw.AsSpan(((r * cols) + g + j) * size, size).CopyTo(dense.AsSpan(((r * cols) + g + j) * size));
                    values.AddRange(raw.AsSpan((((r * cols) + g + j) * size), size).ToArray());
                    for (int b = 0; b < bits; b++, bit++)
                    {
                        index[(r * stride) + (bit / 8)] |= (byte)(((j >> b) & 1) << (bit % 8));
                    }
                }
            }
        }
        return (values.ToArray(), index, dense);
    }

    private static (byte[] Mask, long[] Offsets, byte[] Values, byte[] Dense) ReferenceBitmask(byte[] raw, DType dtype, int rows, int cols)
    {
        int size = dtype.SizeOf(), stride = (cols + 7) / 8;
        byte[] mask = new byte[rows * stride];
        byte[] dense = new byte[raw.Length];
        long[] offsets = new long[rows + 1];
        var values = new List<byte>();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                if (!IsZero(raw, dtype, ((long)r * cols) + c))
                {
                    mask[(r * stride) + (c / 8)] |= (byte)(1 << (c % 8));
                    raw.AsSpan(((r * cols) + c) * size, size).CopyTo(dense.AsSpan(((r * cols) + c) * size));
                    values.AddRange(raw.AsSpan(((r * cols) + c) * size, size).ToArray());
                }
            }
            offsets[r + 1] = values.Count / size;
        }
        return (mask, offsets, values.ToArray(), dense);
    }
}
