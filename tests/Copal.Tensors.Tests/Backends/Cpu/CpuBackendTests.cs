using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Kernels;
using Copal.Tensors.Tests.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends.Cpu;

/// <summary>Every op of <see cref="IBackend"/> through <see cref="CpuBackend"/>, against the scalar references.</summary>
public sealed unsafe class CpuBackendTests : IDisposable
{
    private readonly CpuBackend _backend = new(threads: 2);

    public void Dispose() => _backend.Dispose();

    private DeviceBuffer Up(float[] values)
    {
        DeviceBuffer b = _backend.Allocate(values.Length);
        _backend.Upload(values, b);
        return b;
    }

    private float[] Down(DeviceBuffer b, int count)
    {
        var a = new float[count];
        _backend.Download(b, a);
        return a;
    }

    private static TensorView View(StoredMatrix m, string name) =>
        new(name, m.Matrix.DType, [m.Matrix.Rows, m.Matrix.Cols], m.Data, m.Matrix.ByteLength);

    [Theory]
    [InlineData(1, "(1 thread)")]
    [InlineData(2, "(2 threads)")]
    public void The_device_name_counts_its_threads_in_words(int threads, string ending)
    {
        using var backend = new CpuBackend(threads);
        Assert.EndsWith($"-core CPU {ending}", backend.Info.DeviceName, StringComparison.Ordinal);
    }

    [Fact]
    public void Buffers_are_zeroed_aligned_and_round_trip()
    {
        using var b = (CpuBuffer)_backend.Allocate(37);
        Assert.Equal(0, (long)b.Pointer % 64);
        Assert.All(b.Span.ToArray(), v => Assert.Equal(0f, v));
        _backend.Upload([1f, 2f, 3f], b, 10);
        var back = new float[3];
        _backend.Download(b, back, 10);
        Assert.Equal([1f, 2f, 3f], back);
        Assert.Throws<ArgumentOutOfRangeException>(() => _backend.Upload(new float[5], b, 35));
    }

    [Theory]
    [InlineData(DType.F32, 1)]
    [InlineData(DType.BF16, 1)]
    [InlineData(DType.F16, 1)]
    [InlineData(DType.F32, 7)]
    [InlineData(DType.BF16, 7)]
    [InlineData(DType.F16, 7)]
    public void MatMul_reads_the_weight_in_place(DType dtype, int rows)
    {
        using var w = new StoredMatrix(dtype, 259, 300, seed: 1);
        using DeviceWeight weight = _backend.LoadWeight(View(w, "model.layers.0.mlp.up_proj.weight"));
        Assert.True(w.Data == ((CpuWeight)weight).Matrix.Data, "LoadWeight copied the weight"); // zero-copy
        float[] x = Rand.Floats(rows * 300, 2);
        using DeviceBuffer bx = Up(x), by = _backend.Allocate(rows * 259);
        _backend.MatMul(bx, weight, by, rows);
        KernelTolerance.AssertSums(Down(by, rows * 259), Reference.MatMul(x, rows, w.Values, 259, 300), 300, $"matmul {dtype}");
    }

    private sealed class ForeignWeight() : DeviceWeight("w.sparse", DType.F32, 2, 2)
    {
        protected override void Release()
        {
        }
    }

    [Fact]
    public void MatMul_names_an_unknown_weight_type_and_a_short_buffer()
    {
        using DeviceBuffer x = _backend.Allocate(4), y = _backend.Allocate(4);
        var e = Assert.Throws<NotSupportedException>(() => _backend.MatMul(x, new ForeignWeight(), y, 2));
        Assert.Contains("ForeignWeight", e.Message, StringComparison.Ordinal);
        using var w = new StoredMatrix(DType.F32, 3, 2, seed: 1);
        using DeviceWeight weight = _backend.LoadWeight(View(w, "q_proj"));
        var e2 = Assert.Throws<ArgumentException>(() => _backend.MatMul(x, weight, y, 2));
        Assert.Contains("needs 6", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadVector_and_Embedding_convert_to_f32()
    {
        using var table = new StoredMatrix(DType.BF16, 10, 33, seed: 3);
        using DeviceWeight t = _backend.LoadWeight(View(table, "embed_tokens"));
        using DeviceBuffer output = _backend.Allocate(2 * 33);
        _backend.Embedding(t, [9, 1], output);
        float[] expected = [.. table.Values.AsSpan(9 * 33, 33), .. table.Values.AsSpan(33, 33)];
        Tolerances.AssertClose(Down(output, 66), expected, 0, 0, what: "embedding");

        using var vector = new StoredMatrix(DType.F16, 1, 33, seed: 4);
        var view = new TensorView("norm.weight", DType.F16, [33], vector.Data, 66);
        using DeviceBuffer v = _backend.LoadVector(view);
        Tolerances.AssertClose(Down(v, 33), vector.Values, 0, 0, what: "vector");
    }

    [Fact]
    public void Elementwise_ops_match_references()
    {
        const int rows = 3, dim = 4097;
        float[] x = Rand.Floats(rows * dim, 1, 3f), w = Rand.Floats(dim, 2), g = Rand.Floats(rows * dim, 3, 6f);
        using DeviceBuffer bx = Up(x), bw = Up(w), by = _backend.Allocate(rows * dim), bg = Up(g);

        _backend.RmsNorm(bx, bw, by, rows, dim, 1e-6f);
        float[] norm = Enumerable.Range(0, rows).SelectMany(r => Reference.RmsNorm(x[(r * dim)..((r + 1) * dim)], w, 1e-6f)).ToArray();
        Tolerances.AssertClose(Down(by, rows * dim), norm, what: "rmsnorm");

        _backend.SiluMul(bg, bx, bg, rows * dim);
        Tolerances.AssertClose(Down(bg, rows * dim), Reference.SiluMul(g, x), what: "silu");

        _backend.Add(bx, by, by, rows * dim);
        Tolerances.AssertClose(Down(by, rows * dim), x.Select((v, i) => v + norm[i]).ToArray(), what: "add");

        _backend.Softmax(bx, rows, dim);
        float[] soft = Enumerable.Range(0, rows).SelectMany(r => Reference.Softmax(x[(r * dim)..((r + 1) * dim)])).ToArray();
        Tolerances.AssertClose(Down(bx, rows * dim), soft, what: "softmax");

        using DeviceBuffer bias = Up(w);
        _backend.Copy(bg, 0, bx, 0, rows * dim);
        _backend.AddBias(bx, bias, rows, dim);
        float[] silu = Reference.SiluMul(g, x);
        Tolerances.AssertClose(Down(bx, rows * dim), silu.Select((v, i) => v + w[i % dim]).ToArray(), what: "bias");
    }

    [Fact]
    public void Rope_and_attention_match_references()
    {
        const int rows = 3, startPos = 4, heads = 4, kvHeads = 2, headDim = 16, maxPos = 16;
        var tables = RopeTables.Build(maxPos, headDim, 10000, null);
        float[] q = Rand.Floats(rows * heads * headDim, 1);
        using DeviceBuffer bq = Up(q), cos = Up(tables.Cos), sin = Up(tables.Sin);
        _backend.Rope(bq, cos, sin, rows, heads, headDim, headDim, startPos);
        float[] expected = (float[])q.Clone();
        for (int r = 0; r < rows; r++)
        {
            float[] row = expected[(r * heads * headDim)..((r + 1) * heads * headDim)];
            Reference.Rope(row, heads, headDim, tables.InverseFrequencies.Select(f => (double)((startPos + r) * f)).ToArray());
            row.CopyTo(expected, r * heads * headDim);
        }
        Tolerances.AssertClose(Down(bq, q.Length), expected, what: "rope");

        float[] k = Rand.Floats(maxPos * kvHeads * headDim, 2), v = Rand.Floats(maxPos * kvHeads * headDim, 3);
        using DeviceBuffer bk = Up(k), bv = Up(v), output = _backend.Allocate(q.Length);
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 0.25f);
        _backend.Attention(bq, bk, bv, output, shape);
        Tolerances.AssertClose(Down(output, q.Length), Reference.Attention(expected, k, v, rows, startPos, heads, kvHeads, headDim, 0.25f), what: "attention");
    }

    [Fact]
    public void Statistics_accumulate_across_calls()
    {
        const int rows = 300, cols = 129;
        float[] x = Rand.Floats(rows * cols, 5);
        using DeviceBuffer bx = Up(x), gram = _backend.Allocate(cols * cols), sums = _backend.Allocate(cols);
        _backend.AccumulateGram(bx, rows, cols, gram);
        _backend.AccumulateGram(bx, rows, cols, gram);
        _backend.AccumulateColumnSquares(bx, rows, cols, sums);
        _backend.AccumulateColumnSquares(bx, rows, cols, sums);
        float[] once = Reference.Gram(x, rows, cols, new float[cols * cols]);
        KernelTolerance.AssertSums(Down(gram, cols * cols), once.Select(v => 2 * v).ToArray(), 2 * rows, "gram");
        float[] squares = Reference.ColumnSquares(x, rows, cols, new float[cols]);
        KernelTolerance.AssertSums(Down(sums, cols), squares.Select(v => 2 * v).ToArray(), 2 * rows, "column squares");
    }
}
