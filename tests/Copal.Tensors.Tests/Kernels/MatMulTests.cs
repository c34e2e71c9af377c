using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

public class MatMulTests
{
    public static TheoryData<DType> DTypes => new(Rand.WeightDTypes);

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemv_matches_reference_for_every_length(DType dtype)
    {
        const int rows = 9; // two 4-row blocks and a single-row tail
        foreach (int cols in Rand.Lengths())
        {
            using var w = new StoredMatrix(dtype, rows, cols, seed: cols);
            float[] x = Rand.Floats(cols, seed: 1000 + cols);
            var y = new float[rows];
            Gemv.Compute(x, w.Matrix, 0, rows, y);
            KernelTolerance.AssertSums(y, Reference.MatMul(x, 1, w.Values, rows, cols), cols, $"gemv {dtype} cols={cols}");
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemv_row_ranges_cover_every_row_count(DType dtype)
    {
        for (int rows = 1; rows <= 21; rows++)
        {
            using var w = new StoredMatrix(dtype, rows, 37, seed: rows);
            float[] x = Rand.Floats(37, seed: 7);
            float[] expected = Reference.MatMul(x, 1, w.Values, rows, 37);
            var y = new float[rows];
            int mid = rows / 3;
            Gemv.Compute(x, w.Matrix, 0, mid, y);
            Gemv.Compute(x, w.Matrix, mid, rows, y);
            KernelTolerance.AssertSums(y, expected, 37, $"gemv {dtype} rows={rows}");
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemm_matches_reference_for_every_length(DType dtype)
    {
        const int rows = 35; // two full 16-wide slivers and an edge
        foreach (int n in new[] { 2, 5, 6, 7, 13 })
        {
            foreach (int cols in Rand.Lengths())
            {
                if (cols > 300 && n != 7)
                {
                    continue; // the long depths run once, at a row count with an edge tile
                }
                using var w = new StoredMatrix(dtype, rows, cols, seed: cols * 31 + n);
                float[] x = Rand.Floats(n * cols, seed: cols + 17 * n);
                var y = new float[n * rows];
                Gemm.Compute(x, n, w.Matrix, 0, rows, y);
                KernelTolerance.AssertSums(y, Reference.MatMul(x, n, w.Values, rows, cols), cols, $"gemm {dtype} n={n} cols={cols}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemm_matches_reference_across_weight_packing_edges(DType dtype)
    {
        // Weights pack eight rows at a time into 16-wide slivers, in blocks of 128 rows and slabs of 256 columns:
        // a full last group (40), a lone group (8), a block edge (150) and depths cut by slabs and chunks.
        foreach (int rows in new[] { 8, 40, 150 })
        {
            foreach (int cols in new[] { 8, 13, 264, 520 })
            {
                using var w = new StoredMatrix(dtype, rows, cols, seed: rows * 7 + cols);
                float[] x = Rand.Floats(7 * cols, seed: cols);
                var y = new float[7 * rows];
                Gemm.Compute(x, 7, w.Matrix, 0, rows, y);
                KernelTolerance.AssertSums(y, Reference.MatMul(x, 7, w.Values, rows, cols), cols, $"gemm {dtype} rows={rows} cols={cols}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemm_row_range_leaves_other_columns_untouched(DType dtype)
    {
        using var w = new StoredMatrix(dtype, 40, 19, seed: 3);
        float[] x = Rand.Floats(3 * 19, seed: 4);
        var y = Enumerable.Repeat(42f, 3 * 40).ToArray();
        Gemm.Compute(x, 3, w.Matrix, 16, 33, y);
        float[] expected = Reference.MatMul(x, 3, w.Values, 40, 19);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 40; j++)
            {
                float want = j is >= 16 and < 33 ? expected[i * 40 + j] : 42f;
                Assert.True(Math.Abs(y[i * 40 + j] - want) <= KernelTolerance.ForSum(19), $"y[{i}, {j}] = {y[i * 40 + j]}, expected {want}");
            }
        }
    }

    [Theory]
    [InlineData(DType.F32, 1)]
    [InlineData(DType.BF16, 1)]
    [InlineData(DType.F16, 1)]
    [InlineData(DType.F32, 9)]
    [InlineData(DType.BF16, 9)]
    [InlineData(DType.F16, 9)]
    public void MatMul_multithreaded_equals_reference(DType dtype, int n)
    {
        const int rows = 301, cols = 1023; // rows cross the 128-row weight block and split over threads unevenly
        using var w = new StoredMatrix(dtype, rows, cols, seed: 5);
        float[] x = Rand.Floats(n * cols, seed: 6);
        float[] expected = Reference.MatMul(x, n, w.Values, rows, cols);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var y = new float[n * rows];
            MatMul.Compute(x, n, w.Matrix, y, threads);
            KernelTolerance.AssertSums(y, expected, cols, $"matmul {dtype} n={n} threads={threads}");
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void A_small_weight_split_by_input_rows_gives_the_bits_of_one_thread(DType dtype)
    {
        // stories260K's up projection (172 × 64) over a 300-row prompt: spread over input rows, not features.
        const int rows = 172, cols = 64, n = 300;
        using var w = new StoredMatrix(dtype, rows, cols, seed: 8);
        Assert.True(MatMul.SplitsInputRows(n, w.Matrix));
        float[] x = Rand.Floats(n * cols, seed: 9);
        var one = new float[n * rows];
        MatMul.Compute(x, n, w.Matrix, one, threads: 1);
        KernelTolerance.AssertSums(one, Reference.MatMul(x, n, w.Values, rows, cols), cols, $"matmul {dtype} small weight");
        foreach (int threads in new[] { 2, 3, 5 })
        {
            var y = new float[n * rows];
            MatMul.Compute(x, n, w.Matrix, y, threads);
            Assert.Equal(one, y);
        }
    }

    [Theory]
    [InlineData(DType.BF16, 2)]
    [InlineData(DType.F32, 5)]
    [InlineData(DType.F16, 8)]
    [InlineData(DType.BF16, 7, 1008)] // 31·32 + 16: the 16-wide tail, no scalar tail
    [InlineData(DType.BF16, 4, 40)]   // one 32-wide step and a scalar tail
    [InlineData(DType.F32, 3, 20)]    // below 32 columns: the 256-bit path
    [InlineData(DType.F32, 6, 64)]
    [InlineData(DType.BF16, 8, 544)]  // two passes of the batched tile, the second one 32-wide step
    [InlineData(DType.F32, 4, 256)]   // exactly one pass
    [InlineData(DType.F16, 8, 2061)]  // eight passes, the last with the 16-wide and the scalar tail
    public void A_few_rows_give_each_row_its_single_row_result_bit_for_bit(DType dtype, int n, int cols = 1023)
    {
        // Batched decode of n sequences must equal decoding each alone: register tiles summed as the per-row GEMV sums.
        const int rows = 301;
        using var w = new StoredMatrix(dtype, rows, cols, seed: 7);
        float[] x = Rand.Floats(n * cols, seed: 8);
        BatchedRows.AssertEachEqualsItsSingleRow(x, n, w.Matrix, batchThreads: 2, singleThreads: 1);
    }

    [Fact]
    public unsafe void F16_loader_converts_every_half_exactly()
    {
        // All 65536 bit patterns: normals, subnormals, zeros, infinities and NaNs.
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }
        fixed (ushort* p = bits)
        {
            var asRow = new WeightMatrix(p, DType.F16, 1, 65536);
            var row = new float[65536];
            Embedding.Lookup(asRow, [0], row);
            for (int i = 0; i < bits.Length; i++)
            {
                float want = (float)BitConverter.UInt16BitsToHalf((ushort)i);
                Assert.True(BitConverter.SingleToInt32Bits(row[i]) == BitConverter.SingleToInt32Bits(want) || (float.IsNaN(want) && float.IsNaN(row[i])),
                    $"half 0x{i:X4}: got {row[i]:R}, expected {want:R}");
            }
        }
    }
}
