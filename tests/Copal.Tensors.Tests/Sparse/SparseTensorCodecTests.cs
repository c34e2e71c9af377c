using Copal.Tensors.Sparse;

namespace Copal.Tensors.Tests.Sparse;

public sealed class SparseTensorCodecTests : IDisposable
{
    private readonly List<PinnedTensor> _pinned = [];

    public void Dispose()
    {
        foreach (var p in _pinned)
        {
            p.Dispose();
        }
    }

    /// <summary>Stores the encoding as separate native tensors (as a file would) and returns the lookup.</summary>
    private Func<string, TensorView?> Store(SparseEncoding encoding, Func<SparsePart, byte[]>? mutate = null)
    {
        var views = new Dictionary<string, TensorView>();
        foreach (var part in encoding.Parts)
        {
            byte[] bytes = mutate?.Invoke(part) ?? part.Data.ToArray();
            var pinned = new PinnedTensor(part.Name, part.DType, part.Shape, bytes);
            _pinned.Add(pinned);
            views[part.Name] = pinned.View;
        }
        return name => views.TryGetValue(name, out var v) ? v : null;
    }

    [Theory]
    [InlineData(DType.BF16, 0, 0)]
    [InlineData(DType.F32, 0, 0)]
    [InlineData(DType.BF16, 2, 4)]
    [InlineData(DType.F32, 4, 8)]
    [InlineData(DType.BF16, 3, 6)]
    public void Encode_then_load_is_zero_copy_and_computes_the_same_product(DType dtype, int n, int m)
    {
        var rnd = new Random(12);
        int rows = 9, cols = n == 0 ? 333 : m * 21;
        byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, 0.7) : SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m);
        const string name = "model.layers.0.mlp.up_proj.weight";
        using var original = SparseMatMulTests.Make(name, raw, dtype, rows, cols, n, m);
        var encoding = SparseTensorCodec.Encode(original);
        Assert.Equal(original.CompressedBytes, encoding.Parts.Sum(p => (long)p.Data.Length));
        Assert.All(encoding.Parts, p => Assert.StartsWith(name + ".", p.Name));
        var lookup = Store(encoding);

        Assert.Equal([name], SparseTensorCodec.SparseNames(encoding.Metadata));
        using var loaded = SparseTensorCodec.Load(name, lookup, encoding.Metadata);
        Assert.Equal(original.Format, loaded.Format);
        Assert.Equal((rows, cols, dtype), (loaded.Rows, loaded.Cols, loaded.DType));
        unsafe
        {
            // Zero-copy: the loaded values are the stored tensor's bytes, not a copy.
            string valuesName = encoding.Parts.Single(p => p.Name.EndsWith("values", StringComparison.Ordinal)).Name;
            fixed (byte* a = loaded is NMSparseMatrix nm ? nm.ValueBytes : ((BitmaskSparseMatrix)loaded).ValueBytes)
            {
                Assert.True(a == lookup(valuesName)!.Value.Data);
            }
        }
        byte[] dense = new byte[raw.Length];
        loaded.ToDenseRaw(dense);
        Assert.Equal(raw, dense);

        float[] x = SparseTestMatrices.Input(rnd, 2 * cols);
        float[] expected = new float[2 * rows], actual = new float[2 * rows];
        using (var w = new CpuSparseWeight(original, ownsMatrix: false))
        {
            SparseMatMul.Run(x, w, expected, 2, 1);
        }
        using (var w = new CpuSparseWeight(loaded, ownsMatrix: false))
        {
            SparseMatMul.Run(x, w, actual, 2, 2);
        }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Load_rejects_a_non_increasing_group_naming_the_tensor_row_and_group()
    {
        float[] dense = new float[3 * 8];
        dense[1] = 1;
        using var matrix = NMSparseMatrix.FromDense("w", dense, 3, 8, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix);
        // Row 2: group 0 holds fields (0, 1), group 1 holds (1, 1), which is not strictly increasing.
        var lookup = Store(enc, p => p.Name.EndsWith(".nm_index", StringComparison.Ordinal) ? Patch(p, row: 2, byteInRow: 0, 0b0101_0100) : null!);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Equal("w", e.TensorName);
        Assert.Contains("row 2, group 1", e.Message);
    }

    [Fact]
    public void Load_rejects_an_index_not_below_M()
    {
        float[] dense = new float[1 * 6];
        using var matrix = NMSparseMatrix.FromDense("w", dense, 1, 6, 2, 6);
        var enc = SparseTensorCodec.Encode(matrix);
        // Fields are 3 bits: (0, 7) — 7 is not a column of a 6-wide group.
        var lookup = Store(enc, p => p.Name.EndsWith(".nm_index", StringComparison.Ordinal) ? Patch(p, row: 0, byteInRow: 0, 0b111_000) : null!);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Contains("index 7", e.Message);
    }

    [Fact]
    public void Load_rejects_bitmask_offsets_that_disagree_with_the_mask()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(5), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var lookup = Store(enc, p => p.Name.EndsWith(".bm_mask", StringComparison.Ordinal) ? Flip(p, 3 * 3 + 1) : null!);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Contains("row 3", e.Message);
    }

    [Fact]
    public void Load_rejects_wrong_shapes_missing_parts_and_bad_metadata()
    {
        byte[] raw = SparseTestMatrices.NM(new Random(6), DType.BF16, 4, 16, 2, 4);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 4, 16, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix);
        var lookup = Store(enc);

        var wrongShape = new Dictionary<string, string> { ["copal.sparse.w"] = "format=nm;n=2;m=4;rows=4;cols=32;dtype=BF16" };
        var e1 = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, wrongShape));
        Assert.Contains("expected [4, 16]", e1.Message);

        var e2 = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", _ => null, enc.Metadata));
        Assert.Contains("missing part 'w.nm_values'", e2.Message);

        var badFormat = new Dictionary<string, string> { ["copal.sparse.w"] = "format=csr;rows=4;cols=16;dtype=BF16" };
        Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, badFormat));
        Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("other", lookup, enc.Metadata));
        Assert.False(SparseTensorCodec.IsSparse("other", enc.Metadata));
    }

    private static byte[] Patch(SparsePart part, int row, int byteInRow, byte value)
    {
        byte[] bytes = part.Data.ToArray();
        bytes[row * (int)part.Shape[1] + byteInRow] = value;
        return bytes;
    }

    private static byte[] Flip(SparsePart part, int byteIndex)
    {
        byte[] bytes = part.Data.ToArray();
        bytes[byteIndex] ^= 0x01;
        return bytes;
    }
}
