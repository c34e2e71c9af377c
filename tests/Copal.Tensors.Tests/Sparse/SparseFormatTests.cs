using System.Runtime.InteropServices;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Tests.Sparse;

public class SparseFormatTests
{
    [Theory]
    [InlineData(DType.F32, 0, 0)]
    [InlineData(DType.BF16, 0, 0)]
    [InlineData(DType.BF16, 2, 4)]
    [InlineData(DType.F32, 4, 8)]
    [InlineData(DType.BF16, 3, 5)]
    public void Densify_returns_the_exact_stored_bytes(DType dtype, int n, int m)
    {
        var rnd = new Random(2);
        int rows = 7, cols = n == 0 ? 203 : m * 13;
        byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, 0.6) : SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m);
        using var matrix = SparseMatMulTests.Make("w", raw, dtype, rows, cols, n, m);
        byte[] back = new byte[raw.Length];
        matrix.ToDenseRaw(back);
        Assert.Equal(raw, back);
        float[] dense = new float[rows * cols];
        matrix.ToDense(dense);
        Assert.Equal(SparseTestMatrices.Widen(raw, dtype), dense);
    }

    /// <summary>
    /// Densify writes the zeros as well as the stored values: a destination that held something (a reused buffer, a
    /// mapped output file) ends up holding the dense matrix only, as it does when it starts zeroed.
    /// </summary>
    [Theory]
    [InlineData(DType.F32, 0, 0)]
    [InlineData(DType.BF16, 2, 4)]
    public void Densify_overwrites_whatever_the_destination_held(DType dtype, int n, int m)
    {
        var rnd = new Random(3);
        int rows = 5, cols = 72;
        byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, 0.6) : SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m);
        using var matrix = SparseMatMulTests.Make("w", raw, dtype, rows, cols, n, m);
        byte[] back = new byte[raw.Length];
        back.AsSpan().Fill(0x7F);
        matrix.ToDenseRaw(back);
        Assert.Equal(raw, back);
        float[] dense = new float[rows * cols];
        dense.AsSpan().Fill(float.NaN);
        matrix.ToDense(dense);
        Assert.Equal(SparseTestMatrices.Widen(raw, dtype), dense);
    }

    [Fact]
    public void Two_four_bf16_is_at_least_40_percent_smaller_than_dense()
    {
        byte[] raw = SparseTestMatrices.NM(new Random(4), DType.BF16, 64, 512, 2, 4);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 64, 512, 2, 4);
        Assert.Equal(1.125, matrix.BytesPerWeight, 3);
        Assert.True(matrix.CompressedBytes <= 0.6 * raw.Length, $"{matrix.CompressedBytes} of {raw.Length} bytes");
        // 2 bits per kept value: 4 per group of 4 columns.
        Assert.Equal(512 / 4 * 4 / 8, ((NMSparseMatrix)matrix).IndexStride);
        // Stored, three groups share a byte: 128 groups take 43 bytes, 45.8% smaller than dense in all.
        long stored = SparseTensorCodec.Encode(matrix).Parts.Sum(p => (long)p.Data.Length);
        Assert.Equal((64 * 256 * 2) + (64 * 43), stored);
        Assert.True(stored <= 0.55 * raw.Length, $"{stored} of {raw.Length} bytes");
    }

    [Fact]
    public void NM_conversion_of_a_violating_matrix_names_tensor_row_and_group()
    {
        float[] dense = new float[2 * 8];
        dense[8 + 4] = 1;
        dense[8 + 5] = 2;
        dense[8 + 7] = 3;
        var e = Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("model.q_proj.weight", dense, 2, 8, 2, 4));
        Assert.Equal("model.q_proj.weight", e.TensorName);
        Assert.Contains("row 1, group 1", e.Message);
        Assert.Contains("3 nonzeros", e.Message);
    }

    [Fact]
    public void NM_conversion_rejects_bad_patterns_and_widths()
    {
        Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("w", new float[10], 1, 10, 2, 4));
        Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("w", new float[32], 1, 32, 4, 4));
        Assert.Throws<SparseFormatException>(() => NMSparseMatrix.FromDense("w", new float[32], 1, 32, 2, 32));
    }

    [Fact]
    public void Conversion_rejects_a_wrong_element_count_and_unsupported_dtypes()
    {
        Assert.Throws<SparseFormatException>(() => BitmaskSparseMatrix.FromDense("w", new float[11], 3, 4));
        unsafe
        {
            byte* p = stackalloc byte[16];
            var view = new TensorView("w16", DType.I16, [2, 4], p, 16);
            var e = Assert.Throws<SparseFormatException>(() => BitmaskSparseMatrix.FromTensor(view));
            Assert.Contains("I16", e.Message);
        }
    }

    [Fact]
    public void From_tensor_view_matches_from_span()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(8), DType.BF16, 5, 40, 0.5);
        using var pinned = new PinnedTensor("t", DType.BF16, [5, 40], raw);
        using var a = BitmaskSparseMatrix.FromTensor(pinned.View);
        using var b = BitmaskSparseMatrix.FromDenseBf16("t", MemoryMarshal.Cast<byte, ushort>(raw), 5, 40);
        Assert.Equal(b.ValueBytes.ToArray(), a.ValueBytes.ToArray());
        Assert.Equal(b.Mask.ToArray(), a.Mask.ToArray());
        Assert.Equal(b.Offsets.ToArray(), a.Offsets.ToArray());
    }
}
