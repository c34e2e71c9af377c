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
        // N:M indices are stored as pattern ranks, smaller than the in-memory fields; the rest is stored as is.
        long stored = encoding.Parts.Sum(p => (long)p.Data.Length);
        Assert.True(n == 0 ? stored == original.CompressedBytes : stored < original.CompressedBytes, $"{stored} stored bytes, {original.CompressedBytes} in memory");
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
        var enc = SparseTensorCodec.Encode(matrix, NMIndexEncoding.Fields);
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
        var enc = SparseTensorCodec.Encode(matrix, NMIndexEncoding.Fields);
        // Fields are 3 bits: (0, 7) and (0, 6) — neither is a column of a 6-wide group (6 is M itself).
        foreach (byte field in new byte[] { 7, 6 })
        {
            var lookup = Store(enc, p => p.Name.EndsWith(".nm_index", StringComparison.Ordinal) ? Patch(p, row: 0, byteInRow: 0, (byte)(field << 3)) : null!);
            var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
            Assert.Contains($"index {field} after 0", e.Message);
        }
    }

    [Theory]
    [InlineData(2, 4, 13)]  // 6 patterns, 3 groups per byte (a per-byte table), last byte holds 1 group
    [InlineData(4, 8, 7)]   // 70 patterns, 1 group per byte
    [InlineData(3, 4, 10)]  // 4 patterns, 4 groups per byte; 6 field bits per group shrink to 2
    [InlineData(2, 3, 12)]  // 3 patterns, 5 groups per byte
    [InlineData(8, 9, 5)]   // 9 patterns, 2 groups per byte, 32 field bits per group: decoded digit by digit
    [InlineData(15, 16, 3)] // 16 patterns, 2 groups per byte, 60 field bits per group: written in two halves
    public void Rank_and_field_encodings_load_to_the_same_matrix(int n, int m, int groups)
    {
        var rnd = new Random(n * 31 + m);
        int rows = 5, cols = m * groups;
        byte[] raw = SparseTestMatrices.NM(rnd, DType.BF16, rows, cols, n, m);
        using var original = SparseMatMulTests.Make("w", raw, DType.BF16, rows, cols, n, m);
        var ranked = SparseTensorCodec.Encode(original);
        var fields = SparseTensorCodec.Encode(original, NMIndexEncoding.Fields);
        Assert.Contains("index=rank", ranked.Metadata["copal.sparse.w"]);
        Assert.Contains("index=fields", fields.Metadata["copal.sparse.w"]);
        var codes = NMRankCodeShape(n, m);
        Assert.Equal([rows, (groups + codes.PerByte - 1) / codes.PerByte], ranked.Parts.Single(p => p.Name == "w.nm_index").Shape);

        using var fromRanks = (NMSparseMatrix)SparseTensorCodec.Load("w", Store(ranked), ranked.Metadata);
        using var fromFields = (NMSparseMatrix)SparseTensorCodec.Load("w", Store(fields), fields.Metadata);
        Assert.Equal(((NMSparseMatrix)original).Index.ToArray(), fromRanks.Index.ToArray());
        Assert.Equal(fromFields.Index.ToArray(), fromRanks.Index.ToArray());
        byte[] dense = new byte[raw.Length];
        fromRanks.ToDenseRaw(dense);
        Assert.Equal(raw, dense);
    }

    [Fact]
    public void Rank_code_is_lexicographic_with_three_two_four_groups_per_byte_little_endian()
    {
        // Row of six 2:4 groups keeping {0,1} {0,2} {0,3} {1,2} {1,3} {2,3}: ranks 0..5 in that order.
        int[][] kept = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
        float[] dense = new float[24];
        for (int g = 0; g < 6; g++)
        {
            foreach (int c in kept[g])
            {
                dense[(g * 4) + c] = g + 1;
            }
        }
        using var matrix = NMSparseMatrix.FromDense("w", dense, 1, 24, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix);
        Assert.Equal(new byte[] { 0 + (1 * 6) + (2 * 36), 3 + (4 * 6) + (5 * 36) }, enc.Parts.Single(p => p.Name == "w.nm_index").Data.ToArray());
    }

    [Fact]
    public void Files_without_an_index_entry_load_as_bit_fields_and_unknown_codes_are_rejected()
    {
        // Files written before the rank code have no index= entry: they still load as bit fields.
        byte[] raw = SparseTestMatrices.NM(new Random(8), DType.BF16, 3, 24, 2, 4);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 3, 24, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix, NMIndexEncoding.Fields);
        var legacy = new Dictionary<string, string> { ["copal.sparse.w"] = "format=nm;n=2;m=4;rows=3;cols=24;dtype=BF16" };
        using var loaded = SparseTensorCodec.Load("w", Store(enc), legacy);
        byte[] dense = new byte[raw.Length];
        loaded.ToDenseRaw(dense);
        Assert.Equal(raw, dense);

        var unknown = new Dictionary<string, string> { ["copal.sparse.w"] = "format=nm;n=2;m=4;index=huffman;rows=3;cols=24;dtype=BF16" };
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", Store(enc), unknown));
        Assert.Contains("index=huffman", e.Message);
    }

    [Theory]
    [InlineData(0, 216, "byte 0 is 216")] // three 2:4 groups encode below 6³ = 216
    [InlineData(4, 6, "byte 4 is 6")]     // the last byte of 13 groups holds one group: below 6
    public void Load_rejects_a_rank_byte_out_of_range_naming_row_and_byte(int byteInRow, byte value, string expected)
    {
        byte[] raw = SparseTestMatrices.NM(new Random(9), DType.BF16, 3, 52, 2, 4);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 3, 52, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix);
        var lookup = Store(enc, p => p.Name.EndsWith(".nm_index", StringComparison.Ordinal) ? Patch(p, row: 1, byteInRow, value) : null!);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Equal("w", e.TensorName);
        Assert.Contains("row 1, " + expected, e.Message);
    }

    private static (int Patterns, int PerByte) NMRankCodeShape(int n, int m)
    {
        long patterns = 1;
        for (int i = 0; i < n; i++)
        {
            patterns = patterns * (m - i) / (i + 1);
        }
        int perByte = 0;
        for (long p = patterns; p <= 256; p *= patterns)
        {
            perByte++;
        }
        return ((int)patterns, perByte);
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

    /// <summary>A metadata entry claiming 2^31 − 1 columns: its mask's width was computed in int and overflowed, so the message expected a negative width.</summary>
    [Fact]
    public void A_bitmask_entry_claiming_two_billion_columns_is_refused_with_the_true_width()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(7), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var huge = new Dictionary<string, string> { ["copal.sparse.w"] = "format=bitmask;rows=2147483647;cols=2147483647;dtype=F32" };
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", Store(enc), huge));
        Assert.Contains("expected [2147483647, 268435456]", e.Message);
    }

    [Fact]
    public void Missing_parts_are_named_for_an_entry_without_them()
    {
        var metadata = new Dictionary<string, string>
        {
            ["copal.sparse.a"] = "format=bitmask;rows=3;cols=4;dtype=F32",
            ["copal.sparse.b"] = "format=nm;n=2;m=4;rows=3;cols=4;dtype=F32",
            ["copal.sparse.c"] = "format=future;rows=3;cols=4;dtype=F32",
        };
        string[] held = ["b.nm_values", "b.nm_index", "a.bm_offsets"];
        Assert.Equal("metadata entry 'copal.sparse.a' declares 'a' compact (bitmask), but the checkpoint lacks part of it: 'a.bm_mask', 'a.bm_values'",
            SparseTensorCodec.MissingParts("a", metadata, held.Contains));
        Assert.Null(SparseTensorCodec.MissingParts("b", metadata, held.Contains));
        Assert.Null(SparseTensorCodec.MissingParts("c", metadata, held.Contains)); // Load names the unknown format
        Assert.EndsWith("lacks all of its parts: 'b.nm_values', 'b.nm_index'", SparseTensorCodec.MissingParts("b", metadata, _ => false));
    }

    /// <summary>
    /// 2:8 stores one 6-bit group per row in a byte, whose top two bits are padding: a file that sets them was not
    /// written by copal (or was damaged), and is refused naming the part and the row rather than read as if whole.
    /// </summary>
    [Fact]
    public void Load_rejects_nonzero_padding_bits_of_an_nm_index_row()
    {
        float[] dense = new float[3 * 8];
        dense[8 + 2] = 1;
        using var matrix = NMSparseMatrix.FromDense("w", dense, 3, 8, 2, 8);
        var enc = SparseTensorCodec.Encode(matrix, NMIndexEncoding.Fields);
        byte[] index = enc.Parts.Single(p => p.Name == "w.nm_index").Data.ToArray();
        var lookup = Store(enc, p => p.Name == "w.nm_index" ? Patch(p, row: 1, byteInRow: 0, (byte)(index[1] | 0b1000_0000)) : null!);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Equal("w", e.TensorName);
        Assert.Contains("'w.nm_index' row 1 has nonzero padding bits", e.Message);
    }

    /// <summary>
    /// Offsets that start at 1 but step by each row's count agree with the mask row by row; only their start says the
    /// rows would read their values one element late, and the error names that, not a consequence of it.
    /// </summary>
    [Fact]
    public void Load_rejects_bitmask_offsets_that_do_not_start_at_zero()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(8), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var lookup = Store(enc, p =>
        {
            if (p.Name != "w.bm_offsets")
            {
                return null!;
            }
            long[] offsets = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(p.Data.Span).ToArray();
            return System.Runtime.InteropServices.MemoryMarshal.AsBytes(offsets.Select(o => o + 1).ToArray().AsSpan()).ToArray();
        });
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Contains("'w.bm_offsets'[0] is 1, expected 0", e.Message);
    }

    /// <summary>
    /// 20 columns leave the last mask byte of a row four padding bits; the first of them (column 20, one past the last)
    /// is as much beyond the matrix as the others.
    /// </summary>
    [Fact]
    public void Load_rejects_a_bitmask_bit_one_column_past_the_last()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(9), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var lookup = Store(enc, p =>
        {
            if (p.Name != "w.bm_mask")
            {
                return null!;
            }
            byte[] bytes = p.Data.ToArray();
            bytes[(2 * 3) + 2] |= 1 << 4;
            return bytes;
        });
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", lookup, enc.Metadata));
        Assert.Contains("'w.bm_mask' row 2 sets bits beyond column 19", e.Message);
    }

    /// <summary>
    /// 1:2 over 16 columns takes one byte per row either way (8 one-bit fields, or 8 base-2 ranks): ranks save nothing
    /// there, so the index stays in the bit fields, the layout every version reads.
    /// </summary>
    [Fact]
    public void An_index_the_rank_code_would_not_shrink_is_stored_as_bit_fields()
    {
        float[] dense = new float[2 * 16];
        dense[1] = 1;
        using var matrix = NMSparseMatrix.FromDense("w", dense, 2, 16, 1, 2);
        var enc = SparseTensorCodec.Encode(matrix);
        Assert.Contains("index=fields", enc.Metadata["copal.sparse.w"]);
        Assert.Equal([2L, 1L], enc.Parts.Single(p => p.Name == "w.nm_index").Shape);
    }

    /// <summary>
    /// Values stored as F16 under an entry that says BF16 have the right shape and byte length, but read as BF16 they
    /// are other numbers: the part's dtype is checked against the entry's, and the error names both.
    /// </summary>
    [Fact]
    public void Load_rejects_a_values_part_whose_dtype_is_not_the_entrys()
    {
        byte[] raw = SparseTestMatrices.NM(new Random(11), DType.BF16, 4, 16, 2, 4);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 4, 16, 2, 4);
        var enc = SparseTensorCodec.Encode(matrix);
        var views = new Dictionary<string, TensorView>();
        foreach (var part in enc.Parts)
        {
            var pinned = new PinnedTensor(part.Name, part.Name == "w.nm_values" ? DType.F16 : part.DType, part.Shape, part.Data.ToArray());
            _pinned.Add(pinned);
            views[part.Name] = pinned.View;
        }
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", name => views.TryGetValue(name, out var v) ? v : null, enc.Metadata));
        Assert.Contains("part 'w.nm_values' has dtype F16, expected BF16", e.Message);
    }

    /// <summary>An item of the entry without a key ("=5") is not key=value: refused, not stored under the empty key.</summary>
    [Fact]
    public void Load_rejects_a_metadata_item_without_a_key()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(12), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var keyless = new Dictionary<string, string> { ["copal.sparse.w"] = enc.Metadata["copal.sparse.w"] + ";=5" };
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", Store(enc), keyless));
        Assert.Contains("metadata item '=5' is not key=value", e.Message);
    }

    /// <summary>The sizes a caller plans with (the prune's compact estimate) are those of the parts Encode writes.</summary>
    [Theory]
    [InlineData(2, 4, 52)] // rank index, a last byte of one group
    [InlineData(2, 4, 16)]
    [InlineData(4, 8, 56)]
    [InlineData(0, 0, 20)] // bitmask, a partial mask byte
    public void Stored_byte_counts_are_those_of_the_written_parts(int n, int m, int cols)
    {
        byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(new Random(13), DType.BF16, 3, cols, 0.5) : SparseTestMatrices.NM(new Random(13), DType.BF16, 3, cols, n, m);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.BF16, 3, cols, n, m);
        long written = SparseTensorCodec.Encode(matrix).Parts.Sum(p => (long)p.Data.Length);
        Assert.Equal(written, n == 0
            ? SparseTensorCodec.BitmaskStoredBytes(3, cols, matrix.StoredValues, DType.BF16)
            : SparseTensorCodec.NMStoredBytes(3, cols, n, m, DType.BF16));
    }

    /// <summary>
    /// The checks a checkpoint makes when it opens (before any weight is loaded): a written encoding passes them,
    /// an unknown format and an unsupported pattern are refused by name.
    /// </summary>
    [Fact]
    public void Declared_entries_and_part_shapes_are_checked_as_a_checkpoint_opens()
    {
        foreach ((int n, int m, int cols) in new[] { (0, 0, 20), (2, 4, 16) })
        {
            byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(new Random(14), DType.F32, 4, cols, 0.5) : SparseTestMatrices.NM(new Random(14), DType.F32, 4, cols, n, m);
            using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, cols, n, m);
            var enc = SparseTensorCodec.Encode(matrix);
            var lookup = Store(enc);
            SparseTensorCodec.CheckDeclared("w", enc.Metadata);
            SparseTensorCodec.CheckPartShapes("w", enc.Metadata, name => lookup(name)!.Value);
        }
        var csr = new Dictionary<string, string> { ["copal.sparse.w"] = "format=csr;rows=4;cols=16;dtype=F32" };
        Assert.Contains("unknown sparse format 'csr'", Assert.Throws<SparseFormatException>(() => SparseTensorCodec.CheckDeclared("w", csr)).Message);
        byte[] nm = SparseTestMatrices.NM(new Random(15), DType.F32, 4, 16, 2, 4);
        using var twoFour = SparseMatMulTests.Make("w", nm, DType.F32, 4, 16, 2, 4);
        var parts = Store(SparseTensorCodec.Encode(twoFour));
        var dense = new Dictionary<string, string> { ["copal.sparse.w"] = "format=nm;n=4;m=4;rows=4;cols=16;dtype=F32" };
        Assert.Contains("pattern 4:4 is not supported", Assert.Throws<SparseFormatException>(() => SparseTensorCodec.CheckPartShapes("w", dense, name => parts(name)!.Value)).Message);
    }

    [Fact]
    public void A_bitmask_weights_values_part_is_its_values_and_its_mask_and_offsets_are_not()
    {
        var metadata = new Dictionary<string, string> { ["copal.sparse.w"] = "format=bitmask;rows=3;cols=4;dtype=F32" };
        Assert.True(SparseTensorCodec.IsPartOf("w.bm_values", metadata, out string weight, out bool values));
        Assert.Equal(("w", true), (weight, values));
        Assert.True(SparseTensorCodec.IsPartOf("w.bm_mask", metadata, out _, out values));
        Assert.False(values);
        Assert.True(SparseTensorCodec.IsPartOf("w.bm_offsets", metadata, out _, out values));
        Assert.False(values);
    }

    /// <summary>Bitmask values one short of what the offsets count are refused as they load, before a product reads past them.</summary>
    [Fact]
    public void Load_rejects_bitmask_values_shorter_than_the_offsets_count()
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(17), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var views = new Dictionary<string, TensorView>();
        foreach (var part in enc.Parts)
        {
            bool values = part.Name == "w.bm_values";
            var pinned = new PinnedTensor(part.Name, part.DType, values ? [part.Shape[0] - 1] : part.Shape, values ? part.Data[..^4].ToArray() : part.Data.ToArray());
            _pinned.Add(pinned);
            views[part.Name] = pinned.View;
        }
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", name => views.TryGetValue(name, out var v) ? v : null, enc.Metadata));
        Assert.Contains("'w.bm_values'", e.Message);
    }

    /// <summary>An entry of no rows, or of a dtype no compact format holds, is refused for that, before its parts are read.</summary>
    [Theory]
    [InlineData("format=bitmask;rows=0;cols=20;dtype=F32", "metadata shape [0, 20] must be positive")]
    [InlineData("format=bitmask;rows=4;cols=0;dtype=F32", "metadata shape [4, 0] must be positive")]
    [InlineData("format=bitmask;rows=4;cols=20;dtype=I32", "metadata dtype 'I32' is not F32, BF16 or F16")]
    public void Load_rejects_an_empty_shape_or_a_dtype_without_values(string entry, string expected)
    {
        byte[] raw = SparseTestMatrices.Unstructured(new Random(16), DType.F32, 4, 20, 0.5);
        using var matrix = SparseMatMulTests.Make("w", raw, DType.F32, 4, 20);
        var enc = SparseTensorCodec.Encode(matrix);
        var e = Assert.Throws<SparseFormatException>(() => SparseTensorCodec.Load("w", Store(enc), new Dictionary<string, string> { ["copal.sparse.w"] = entry }));
        Assert.Contains(expected, e.Message);
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
