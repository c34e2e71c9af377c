using System.Runtime.InteropServices;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Tests.Sparse;

public class SparseMatMulTests
{
    internal static SparseMatrix Make(string name, byte[] raw, DType dtype, int rows, int cols, int n = 0, int m = 0)
    {
        if (dtype == DType.F32)
        {
            var f = MemoryMarshal.Cast<byte, float>(raw);
            return n == 0 ? BitmaskSparseMatrix.FromDense(name, f, rows, cols) : NMSparseMatrix.FromDense(name, f, rows, cols, n, m);
        }
        var b = MemoryMarshal.Cast<byte, ushort>(raw);
        if (dtype == DType.F16)
        {
            return n == 0 ? BitmaskSparseMatrix.FromDenseF16(name, b, rows, cols) : NMSparseMatrix.FromDenseF16(name, b, rows, cols, n, m);
        }
        return n == 0 ? BitmaskSparseMatrix.FromDenseBf16(name, b, rows, cols) : NMSparseMatrix.FromDenseBf16(name, b, rows, cols, n, m);
    }

    private static void Check(SparseMatrix matrix, byte[] raw, int inputRows, int threads, int seed)
    {
        var rnd = new Random(seed);
        float[] w = SparseTestMatrices.Widen(raw, matrix.DType);
        float[] x = SparseTestMatrices.Input(rnd, inputRows * matrix.Cols);
        float[] y = new float[inputRows * matrix.Rows];
        y.AsSpan().Fill(float.NaN);
        using var weight = new CpuSparseWeight(matrix, ownsMatrix: false);
        SparseMatMul.Run(x, weight, y, inputRows, threads);
        var expected = SparseTestMatrices.Reference(w, matrix.Rows, matrix.Cols, x, inputRows);
        SparseTestMatrices.AssertMatches(y, expected, $"{matrix} n={inputRows} threads={threads}");
        if (inputRows == 1)
        {
            // On an AVX-512 machine Run took the AVX-512 GEMV; the AVX2 fallback must agree as well.
            y.AsSpan().Fill(float.NaN);
            SparseMatMul.RunRange(x, weight, y, 1, 0, matrix.Rows, allowAvx512: false);
            SparseTestMatrices.AssertMatches(y, expected, $"{matrix} AVX2 path");
        }
    }

    [Theory]
    [InlineData(DType.F32, 0.5)]
    [InlineData(DType.BF16, 0.5)]
    [InlineData(DType.F32, 0.7)]
    [InlineData(DType.BF16, 0.9)]
    [InlineData(DType.F16, 0.5)]
    [InlineData(DType.F16, 0.9)]
    public void Bitmask_gemv_matches_dense_product_for_every_width_1_to_256(DType dtype, double sparsity)
    {
        var rnd = new Random(17);
        for (int cols = 1; cols <= 256; cols++)
        {
            int rows = 1 + cols % 5;
            byte[] raw = SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, sparsity);
            using var m = Make("w", raw, dtype, rows, cols);
            Check(m, raw, inputRows: 1, threads: 1, seed: cols);
        }
    }

    [Theory]
    [InlineData(DType.F32, 1, 1)]
    [InlineData(DType.BF16, 1, 1)]
    [InlineData(DType.F32, 1, 3)]
    [InlineData(DType.BF16, 1, 4)]
    [InlineData(DType.F32, 5, 1)]
    [InlineData(DType.BF16, 7, 3)]
    [InlineData(DType.BF16, 2, 2)]
    [InlineData(DType.F16, 1, 1)]
    [InlineData(DType.F16, 1, 3)]
    [InlineData(DType.F16, 7, 3)]
    public void Bitmask_matmul_matches_dense_product_on_odd_large_shapes(DType dtype, int inputRows, int threads)
    {
        var rnd = new Random(3);
        foreach (var (rows, cols, sparsity) in new[] { (37, 1023, 0.5), (19, 4099, 0.7), (8, 2048, 0.0), (5, 777, 1.0) })
        {
            byte[] raw = SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, sparsity);
            using var m = Make("w", raw, dtype, rows, cols);
            Check(m, raw, inputRows, threads, seed: cols);
        }
    }

    [Theory]
    [InlineData(DType.F32, 2, 4)]
    [InlineData(DType.BF16, 2, 4)]
    [InlineData(DType.F32, 4, 8)]
    [InlineData(DType.BF16, 4, 8)]
    [InlineData(DType.BF16, 1, 4)]
    [InlineData(DType.F32, 3, 8)]
    [InlineData(DType.BF16, 5, 16)]
    [InlineData(DType.F32, 2, 3)]
    [InlineData(DType.BF16, 6, 7)]
    [InlineData(DType.F16, 2, 4)]
    [InlineData(DType.F16, 4, 8)]
    [InlineData(DType.F16, 3, 8)]
    public void NM_matmul_matches_dense_product_across_sizes_and_threads(DType dtype, int n, int m)
    {
        var rnd = new Random(n * 31 + m);
        for (int groups = 1; groups * m <= 256; groups += 1 + groups / 3)
        {
            int cols = groups * m, rows = 1 + groups % 7;
            byte[] raw = SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m);
            using var matrix = Make("w", raw, dtype, rows, cols, n, m);
            Check(matrix, raw, inputRows: 1, threads: 1, seed: cols);
            Check(matrix, raw, inputRows: 3, threads: 2, seed: cols + 1);
        }
        int bigCols = m * (4096 / m);
        byte[] big = SparseTestMatrices.NM(rnd, dtype, 33, bigCols, n, m);
        using var bigMatrix = Make("big", big, dtype, 33, bigCols, n, m);
        Check(bigMatrix, big, inputRows: 1, threads: 3, seed: 5);
        Check(bigMatrix, big, inputRows: 6, threads: 1, seed: 6);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void TwoFour_gemv_on_wide_rows_matches(DType dtype)
    {
        // Rows past 4096 columns (a down_proj's width), which a four-row AVX-512 2:4 kernel once took; one row at a
        // time with a non-temporal prefetch replaced it. 4100 columns also leaves a tail.
        var rnd = new Random(9);
        foreach (var (rows, cols) in new[] { (9, 4100), (4, 4128) })
        {
            byte[] raw = SparseTestMatrices.NM(rnd, dtype, rows, cols, 2, 4);
            using var matrix = Make("w", raw, dtype, rows, cols, 2, 4);
            Check(matrix, raw, inputRows: 1, threads: 2, seed: cols);
        }
    }

    [Theory]
    [InlineData(1, 2, 512)]
    [InlineData(4, 2, 512)]
    [InlineData(1, 3, 512)]
    [InlineData(13, 2, 512)]
    [InlineData(13, 3, 512)]
    [InlineData(13, 3, 1000)]
    [InlineData(25, 7, 100)]
    public void Run_on_several_threads_equals_one_thread_bit_for_bit(int inputRows, int threads, int outputs)
    {
        // Outputs of 1024 columns: enough work per row range that the worker pool really splits the call. Three
        // threads cut 512 outputs at 168 and 340 if cut at multiples of 4, inside the prefill GEMM's 32-wide register
        // tiles, and 1024 columns are four 256-deep slabs, so a tile's sum would change order if it were cut there (a
        // full tile adds each slab onto y, an edge tile adds a slab's own sum to it); 13 input rows fill one 12-row
        // tile height, which 4 do not. 1000 and 100 outputs end inside a tile, and 100 are fewer tiles than threads.
        var rnd = new Random(21);
        byte[] nm = SparseTestMatrices.NM(rnd, DType.BF16, outputs, 1024, 2, 4);
        byte[] unstructured = SparseTestMatrices.Unstructured(rnd, DType.BF16, outputs, 1024, 0.7);
        foreach (var weight in new[] { new CpuSparseWeight(Make("nm", nm, DType.BF16, outputs, 1024, 2, 4)), new CpuSparseWeight(Make("bm", unstructured, DType.BF16, outputs, 1024)) })
        {
            using (weight)
            {
                float[] x = SparseTestMatrices.Input(rnd, inputRows * 1024);
                float[] one = new float[inputRows * outputs], two = new float[inputRows * outputs];
                SparseMatMul.Run(x, weight, one, inputRows, 1);
                SparseMatMul.Run(x, weight, two, inputRows, threads);
                Assert.Equal(one, two);
            }
        }
    }

    [Theory]
    [InlineData(DType.BF16, 0)]
    [InlineData(DType.F32, 0)]
    [InlineData(DType.BF16, 4)]
    [InlineData(DType.F32, 8)]
    [InlineData(DType.F16, 0)]
    [InlineData(DType.F16, 4)]
    public void Prefill_matches_dense_product_across_the_gemm_block_edges(DType dtype, int m)
    {
        // The prefill GEMM packs 6 input rows, 16 outputs and 256 columns at a time, in blocks of 128 outputs:
        // these shapes cut every one of those edges, 200 input rows take two passes, and the last rows of the value buffer
        // take the lane-by-lane path.
        var rnd = new Random(41 + m);
        foreach (var (outs, cols, inputRows) in new[] { (150, 520, 7), (17, 264, 2), (129, 1032, 13), (3, 8, 6), (40, 256, 64), (20, 72, 200) })
        {
            foreach (double sparsity in m == 0 ? new[] { 0.5, 0.9, 1.0 } : new[] { 0.0 })
            {
                byte[] raw = m == 0 ? SparseTestMatrices.Unstructured(rnd, dtype, outs, cols, sparsity) : SparseTestMatrices.NM(rnd, dtype, outs, cols, m / 2, m);
                using var matrix = Make("w", raw, dtype, outs, cols, m / 2, m);
                Check(matrix, raw, inputRows, threads: 2, seed: outs + cols);
            }
        }
    }

    [Fact]
    public void Prefill_range_kernel_writes_only_its_range()
    {
        var rnd = new Random(10);
        byte[] raw = SparseTestMatrices.Unstructured(rnd, DType.BF16, 40, 64, 0.5);
        using var weight = new CpuSparseWeight(Make("w", raw, DType.BF16, 40, 64));
        float[] x = SparseTestMatrices.Input(rnd, 3 * 64);
        float[] y = new float[3 * 40];
        y.AsSpan().Fill(-7f);
        SparseMatMul.RunRange(x, weight, y, 3, 17, 35);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 40; j++)
            {
                Assert.True((j is >= 17 and < 35) != (y[i * 40 + j] == -7f), $"row {i} output {j}");
            }
        }
    }

    [Fact]
    public void Range_kernel_writes_only_its_range()
    {
        var rnd = new Random(9);
        byte[] raw = SparseTestMatrices.Unstructured(rnd, DType.BF16, 10, 64, 0.5);
        using var weight = new CpuSparseWeight(Make("w", raw, DType.BF16, 10, 64));
        float[] x = SparseTestMatrices.Input(rnd, 64);
        float[] y = new float[10];
        y.AsSpan().Fill(-7f);
        SparseMatMul.RunRange(x, weight, y, 1, 3, 6);
        Assert.All(new[] { 0, 1, 2, 6, 7, 8, 9 }, i => Assert.Equal(-7f, y[i]));
        Assert.NotEqual(-7f, y[4]);
    }

    [Fact]
    public void Matmul_rejects_short_buffers_naming_the_weight()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(1), DType.F32, 4, 16, 0.5);
        using var weight = new CpuSparseWeight(Make("layer.w", raw, DType.F32, 4, 16));
        var e = Assert.Throws<ArgumentException>(() => SparseMatMul.Run(new float[15], weight, new float[4], 1, 1));
        Assert.Contains("layer.w", e.Message);
        Assert.Contains("[1, 16]", e.Message);
    }
}
