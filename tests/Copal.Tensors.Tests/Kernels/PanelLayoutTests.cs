using System.Runtime.InteropServices;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// Weights in <see cref="WeightLayout.Panels"/>: the packing itself, the decode kernels against the scalar reference,
/// batched rows against one row to the bit, the GEMM against the row-major GEMM to the bit, and embedding lookups.
/// The kernels run on any machine (Vector512 is emulated where it is not hardware).
/// </summary>
public sealed unsafe class PanelLayoutTests
{
    /// <summary>A packed copy of a test matrix, freed on Dispose.</summary>
    private sealed class Packed(WeightMatrix matrix) : IDisposable
    {
        public WeightMatrix Matrix { get; } = matrix;

        public void Dispose() => NativeMemory.AlignedFree(Matrix.Data);
    }

    private static Packed Pack(StoredMatrix w) => new(PanelPacking.Pack(w.Matrix));

    [Theory]
    [InlineData(DType.BF16, 32, 1)]
    [InlineData(DType.F32, 40, 37)]
    [InlineData(DType.F16, 100, 129)]
    public void Packing_puts_every_element_at_its_panel_address_and_pads_with_zeros(DType dtype, int rows, int cols)
    {
        using var w = new StoredMatrix(dtype, rows, cols, seed: 11);
        using Packed p = Pack(w);
        Assert.True(p.Matrix.IsPanels);
        Assert.Equal((rows + 31) / 32, p.Matrix.PanelCount);
        int size = dtype.SizeOf();
        for (int r = 0; r < p.Matrix.PanelCount * WeightMatrix.PanelRows; r++)
        {
            for (int k = 0; k < cols; k++)
            {
                byte* at = p.Matrix.Panel(r / 32) + ((long)k * 32 + r % 32) * size;
                byte* expected = r < rows ? w.Matrix.Row(r) + (long)k * size : null;
                for (int b = 0; b < size; b++)
                {
                    Assert.Equal(expected is null ? (byte)0 : expected[b], at[b]);
                }
            }
        }
    }

    [Theory]
    [InlineData(DType.F32, 1, 32, 1)]
    [InlineData(DType.BF16, 1, 301, 1023)]
    [InlineData(DType.F16, 1, 64, 129)]
    [InlineData(DType.BF16, 3, 40, 37)]
    [InlineData(DType.F32, 4, 100, 256)]
    [InlineData(DType.F16, 5, 301, 130)]
    [InlineData(DType.BF16, 8, 301, 1023)]
    [InlineData(DType.F32, 8, 33, 2)]
    public void Decode_over_panels_matches_the_reference(DType dtype, int n, int rows, int cols)
    {
        using var w = new StoredMatrix(dtype, rows, cols, seed: 12);
        using Packed p = Pack(w);
        float[] x = Rand.Floats(n * cols, seed: 13);
        float[] expected = Reference.MatMul(x, n, w.Values, rows, cols);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var y = new float[n * rows];
            MatMul.Compute(x, n, p.Matrix, y, threads);
            KernelTolerance.AssertSums(y, expected, cols, $"panels {dtype} n={n} rows={rows} cols={cols} threads={threads}");
        }
    }

    [Theory]
    [InlineData(DType.BF16, 2)]
    [InlineData(DType.F32, 4)]
    [InlineData(DType.F16, 5)]
    [InlineData(DType.BF16, 8)]
    [InlineData(DType.BF16, 7)]
    public void A_few_rows_over_panels_give_each_row_its_single_row_result_bit_for_bit(DType dtype, int n)
    {
        // Batched decode of n sequences must equal decoding each alone, over panels as over rows.
        const int rows = 301, cols = 1023;
        using var w = new StoredMatrix(dtype, rows, cols, seed: 14);
        using Packed p = Pack(w);
        float[] x = Rand.Floats(n * cols, seed: 15);
        BatchedRows.AssertEachEqualsItsSingleRow(x, n, p.Matrix, batchThreads: 2, singleThreads: 3);
    }

    [Theory]
    [InlineData(DType.BF16, 9, 301, 1023)]
    [InlineData(DType.F32, 37, 100, 300)]
    [InlineData(DType.F16, 12, 64, 64)]
    [InlineData(DType.BF16, 300, 172, 64)] // a small weight, split by input rows
    public void The_gemm_over_panels_gives_the_bits_of_the_gemm_over_rows(DType dtype, int n, int rows, int cols)
    {
        // A panel is a packed GEMM sliver already: the micro-kernel sees the same floats in the same places.
        using var w = new StoredMatrix(dtype, rows, cols, seed: 16);
        using Packed p = Pack(w);
        float[] x = Rand.Floats(n * cols, seed: 17);
        var overRows = new float[n * rows];
        var overPanels = new float[n * rows];
        MatMul.Compute(x, n, w.Matrix, overRows, threads: 2);
        MatMul.Compute(x, n, p.Matrix, overPanels, threads: 2);
        Assert.Equal(overRows, overPanels);
        KernelTolerance.AssertSums(overPanels, Reference.MatMul(x, n, w.Values, rows, cols), cols, $"gemm over panels {dtype}");
    }

    /// <summary>
    /// The public GEMV takes a panel matrix as MatMul does: it read panels as rows before (w.Row's layout check is a
    /// debug assertion only), so a release build returned other rows' sums without a word.
    /// </summary>
    [Theory]
    [InlineData(DType.F32, 70, 37)]
    [InlineData(DType.BF16, 64, 129)]
    [InlineData(DType.F16, 100, 33)]
    public void The_gemv_over_panels_matches_the_reference(DType dtype, int rows, int cols)
    {
        using var w = new StoredMatrix(dtype, rows, cols, seed: 19);
        using Packed p = Pack(w);
        float[] x = Rand.Floats(cols, seed: 20);
        float[] expected = Reference.MatMul(x, 1, w.Values, rows, cols);
        var y = new float[rows];
        Gemv.Compute(x, p.Matrix, 0, 32, y);
        Gemv.Compute(x, p.Matrix, 32, rows, y);
        KernelTolerance.AssertSums(y, expected, cols, $"gemv over panels {dtype}");
    }

    [Fact]
    public void A_gemv_row_range_over_panels_must_cover_whole_panels()
    {
        using var w = new StoredMatrix(DType.BF16, 70, 16, seed: 21);
        using Packed p = Pack(w);
        var y = new float[70];
        var start = Assert.Throws<ArgumentOutOfRangeException>(() => Gemv.Compute(new float[16], p.Matrix, 8, 64, y));
        Assert.Contains("start at a multiple of 32, got 8", start.Message, StringComparison.Ordinal);
        var end = Assert.Throws<ArgumentOutOfRangeException>(() => Gemv.Compute(new float[16], p.Matrix, 0, 40, y));
        Assert.Contains("end at a multiple of 32 or at the last row (70), got 40", end.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gemm_row_range_over_panels_must_start_on_a_panel()
    {
        using var w = new StoredMatrix(DType.BF16, 64, 16, seed: 18);
        using Packed p = Pack(w);
        var y = new float[12 * 64];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Compute(new float[12 * 16], 12, p.Matrix, 8, 64, y));
        Assert.Contains("multiple of 32, got 8", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Embedding_rows_from_a_packed_table_equal_the_row_major_ones(DType dtype)
    {
        // A tied head is also the embedding table: once packed for the head, lookups read it across panels.
        using var w = new StoredMatrix(dtype, 70, 48, seed: 19);
        using Packed p = Pack(w);
        int[] tokens = [0, 31, 32, 69, 5];
        var fromRows = new float[tokens.Length * 48];
        var fromPanels = new float[tokens.Length * 48];
        Embedding.Lookup(w.Matrix, tokens, fromRows);
        Embedding.Lookup(p.Matrix, tokens, fromPanels);
        Assert.Equal(fromRows, fromPanels);
    }

    [Theory]
    [InlineData(DType.BF16, 64, 40)]
    [InlineData(DType.F32, 16, 40)] // fewer rows than a panel: a row-major copy
    public void A_cpu_weight_copy_multiplies_like_its_view_and_outlives_it(DType dtype, int rows, int cols)
    {
        using var w = new StoredMatrix(dtype, rows, cols, seed: 20);
        var view = new TensorView("model.layers.0.mlp.up_proj.weight", dtype, [rows, cols], w.Data, (long)rows * cols * dtype.SizeOf());
        using var backend = new CpuBackend(threads: 2);
        using DeviceWeight copy = backend.LoadWeightCopy(view);
        Assert.Equal(PanelPacking.Worthwhile(rows, cols), ((CpuWeight)copy).Matrix.IsPanels);
        float[] x = Rand.Floats(3 * cols, seed: 21);
        float[] expected = Reference.MatMul(x, 3, w.Values, rows, cols);
        new Span<byte>(w.Data, rows * cols * dtype.SizeOf()).Clear(); // the view's memory goes; the copy stays
        using DeviceBuffer input = backend.Allocate(x.Length), output = backend.Allocate(3 * rows);
        backend.Upload(x, input);
        backend.MatMul(input, copy, output, 3);
        var y = new float[3 * rows];
        backend.Download(output, y);
        KernelTolerance.AssertSums(y, expected, cols, $"copied {dtype} weight");
    }
}
