using System.Buffers.Binary;
using System.Text;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Tensors.Tests.Safetensors;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Saving_stories260K_again_is_byte_identical()
    {
        string path = _dir.File("copy.safetensors");
        using (SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath))
        {
            SafetensorsSaver.Save(path, original.Tensors, original.Metadata);
        }
        byte[] written = File.ReadAllBytes(path);
        Assert.Equal(Stories.Bytes.Length, written.Length);
        int firstDiff = Stories.Bytes.AsSpan().CommonPrefixLength(written);
        Assert.True(firstDiff == written.Length, $"first difference at byte {firstDiff}");
    }

    [Fact]
    public void Header_is_compact_json_metadata_first_padded_with_spaces_to_8()
    {
        string path = _dir.File("small.safetensors");
        using (var writer = SafetensorsWriter.Create(path,
            [new("b", DType.F32, [2]), new("a", DType.I64, [])], new Dictionary<string, string> { ["format"] = "pt" }))
        {
            writer.Write("b", new byte[8]);
            writer.Write("a", new byte[8]);
            writer.Commit();
        }
        byte[] bytes = File.ReadAllBytes(path);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string expected = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
        Assert.Equal(0, n % 8);
        Assert.Equal(expected.PadRight(n), Encoding.UTF8.GetString(bytes, 8, n));
        Assert.Equal(8 + n + 16, bytes.Length);
    }

    [Fact]
    public void Strings_are_escaped_like_serde_json_and_no_metadata_means_no_metadata_key()
    {
        string path = _dir.File("escape.safetensors");
        string name = "q\"b\\n\n\t\u0001é😀\u007f/<";
        using (var writer = SafetensorsWriter.Create(path, [new(name, DType.U8, [0])]))
        {
            writer.Commit();
        }
        byte[] bytes = File.ReadAllBytes(path);
        string header = Encoding.UTF8.GetString(bytes, 8, bytes.Length - 8).TrimEnd(' ');
        Assert.Equal("{\"q\\\"b\\\\n\\n\\t\\u0001é😀\u007f/<\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", header);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(name, file.Tensors[0].Name);
        Assert.Empty(file.Metadata);
    }

    /// <summary>
    /// A tensor in memory goes out in pieces (a span stops at 2 GiB, an embedding may not): pieces of 7 bytes cross
    /// element boundaries, and empty tensors still count as written.
    /// </summary>
    [Fact]
    public unsafe void A_tensor_from_memory_written_in_pieces_reads_back_equal()
    {
        var random = new Random(11);
        var views = new List<(TensorSpec Spec, byte[] Data)>();
        foreach (long[] shape in new long[][] { [5, 9], [0, 3], [1], [16, 4] })
        {
            var spec = new TensorSpec($"t.{string.Join("x", shape)}", DType.BF16, shape);
            byte[] data = new byte[spec.ByteLength];
            random.NextBytes(data);
            views.Add((spec, data));
        }
        string path = _dir.File("pieces.safetensors");
        using (var writer = SafetensorsWriter.Create(path, views.Select(v => v.Spec).ToList()))
        {
            foreach ((TensorSpec spec, byte[] data) in views)
            {
                fixed (byte* p = data)
                {
                    writer.Write(spec.Name, new TensorView(spec.Name, spec.DType, spec.Shape, p, data.Length), piece: 7);
                }
            }
            writer.Commit();
        }
        using SafetensorsFile file = SafetensorsFile.Open(path);
        for (int i = 0; i < views.Count; i++)
        {
            Assert.True(views[i].Data.AsSpan().SequenceEqual(file.Tensors[i].Bytes), views[i].Spec.Name);
        }
    }

    [Fact]
    public unsafe void Every_dtype_reads_back_equal_with_chunked_writes()
    {
        var random = new Random(7);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["zeta"] = "last", ["alpha"] = "ü \"quoted\"\n" };
        DType[] dtypes = Enum.GetValues<DType>();
        var specs = new List<TensorSpec>();
        var payloads = new List<byte[]>();
        foreach (DType dtype in dtypes)
        {
            foreach (long[] shape in new long[][] { [3, 5], [], [0, 4], [7] })
            {
                var spec = new TensorSpec($"t.{dtype}.{string.Join("x", shape)}", dtype, shape);
                specs.Add(spec);
                byte[] data = new byte[spec.ByteLength];
                random.NextBytes(data);
                payloads.Add(data);
            }
        }
        string path = _dir.File("all.safetensors");
        using (var writer = SafetensorsWriter.Create(path, specs, metadata))
        {
            for (int i = 0; i < specs.Count; i++)
            {
                // Odd chunk sizes, including empty chunks, must be accepted.
                byte[] data = payloads[i];
                int at = 0;
                while (at < data.Length)
                {
                    int n = Math.Min(data.Length - at, random.Next(0, 9));
                    writer.Write(specs[i].Name, data.AsSpan(at, n));
                    at += n;
                }
            }
            writer.Commit();
        }

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(metadata.ToList(), file.Metadata.ToList());
        Assert.Equal(0, file.DataOffset % 8);
        Assert.Equal(specs.Count, file.Tensors.Count);
        for (int i = 0; i < specs.Count; i++)
        {
            TensorView v = file.Tensors[i];
            Assert.Equal(specs[i].Name, v.Name);
            Assert.Equal(specs[i].DType, v.DType);
            Assert.Equal(specs[i].Shape, v.Shape);
            Assert.True(payloads[i].AsSpan().SequenceEqual(v.Bytes), v.Name);
        }
    }

    [Fact]
    public void Wrong_sizes_and_order_throw_naming_the_tensor()
    {
        string path = _dir.File("bad.safetensors");
        using var writer = SafetensorsWriter.Create(path, [new("first", DType.F32, [2]), new("empty", DType.F16, [0]), new("second", DType.BF16, [3])]);

        var tooMuch = Assert.Throws<SafetensorsException>(() => writer.Write("first", new byte[9]));
        Assert.Contains("tensor 'first' (F32 [2]) is 8 bytes; 0 are written and 9 more were given", tooMuch.Message);
        Assert.Contains(path, tooMuch.Message);

        var early = Assert.Throws<SafetensorsException>(() => writer.Write("second", new byte[2]));
        Assert.Contains("tensor 'second' (#2) is out of order; expected data of tensor 'first' (#0, 0 of 8 bytes written)", early.Message);

        var unknown = Assert.Throws<SafetensorsException>(() => writer.Write("third", new byte[2]));
        Assert.Contains("'third' is not among the 3 tensors", unknown.Message);

        writer.Write("first", new byte[4]);
        var incomplete = Assert.Throws<SafetensorsException>(writer.Commit);
        Assert.Contains("tensor 'first' has 4 of its 8 bytes written, and 2 tensors after it are missing", incomplete.Message);

        writer.Write("first", new byte[4]);
        var again = Assert.Throws<SafetensorsException>(() => writer.Write("first", new byte[1]));
        Assert.Contains("'first' (#0) was already written in full", again.Message);
        writer.Write("second", new byte[6]);
        writer.Commit();
        Assert.Throws<ObjectDisposedException>(() => writer.Write("second", []));

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["first", "empty", "second"], file.Tensors.Select(t => t.Name));
    }

    /// <summary>
    /// A zero-byte tensor is complete from the start, and a writer that copies every tensor's bytes gives it none: that
    /// is not out of order (prune, compact and densify refused a checkpoint holding one, naming it "already written").
    /// </summary>
    [Fact]
    public void Writing_a_zero_byte_tensor_its_no_bytes_is_accepted_at_any_point()
    {
        string path = _dir.File("empty.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [new("empty", DType.F32, [0]), new("a", DType.F32, [1]), new("none", DType.BF16, [0, 5])]))
        {
            writer.Write("empty", []);
            writer.Write("a", new byte[4]);
            writer.Write("none", []);
            writer.Write("empty", []);
            Assert.Contains("tensor 'empty' was already written in full", Assert.Throws<SafetensorsException>(() => writer.Write("empty", new byte[1])).Message);
            writer.Commit();
        }
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["empty", "a", "none"], file.Tensors.Select(t => t.Name));
    }

    /// <summary>Readers refuse a header over 100 MB, so the writer does not make one; errors name the file as the caller shows it.</summary>
    [Fact]
    public void A_header_readers_would_refuse_is_not_written_and_errors_name_the_shown_path()
    {
        string path = _dir.File("huge.safetensors");
        TensorSpec[] specs = [.. Enumerable.Range(0, 1_000_000).Select(i => new TensorSpec($"model.layers.{i}.mlp.down_proj.weight", DType.F32, [1, 1]))];
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsWriter.Create(path, specs, shownAs: "final/model.safetensors"));
        Assert.StartsWith("final/model.safetensors: the header of 1000000 tensors would take ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(" bytes, above the 100000000-byte limit of safetensors readers", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Invalid_specs_are_refused_before_any_file_is_made()
    {
        string path = _dir.File("specs.safetensors");
        Assert.Contains("listed twice", Assert.Throws<SafetensorsException>(() =>
            SafetensorsWriter.Create(path, [new("a", DType.F32, [1]), new("a", DType.F32, [1])])).Message);
        Assert.Contains("reserves for metadata", Assert.Throws<SafetensorsException>(() =>
            SafetensorsWriter.Create(path, [new("__metadata__", DType.F32, [1])])).Message);
        Assert.Contains("too many elements", Assert.Throws<SafetensorsException>(() =>
            SafetensorsWriter.Create(path, [new("a", DType.F32, [-1])])).Message);
        Assert.Contains("not valid Unicode", Assert.Throws<SafetensorsException>(() =>
            SafetensorsWriter.Create(path, [new("bad\uD800", DType.F32, [1])])).Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Dispose_without_commit_deletes_the_temp_file_and_keeps_the_old_file()
    {
        string path = _dir.File("keep.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        string temp;
        using (var writer = SafetensorsWriter.Create(path, [new("x", DType.U8, [4])]))
        {
            temp = writer.TempPath;
            Assert.StartsWith(_dir.File(".keep.safetensors.tmp-"), temp);
            Assert.True(File.Exists(temp));
            writer.Write("x", [9, 9]);
        }
        Assert.False(File.Exists(temp));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Commit_replaces_an_existing_file_even_while_it_is_mapped()
    {
        string path = _dir.File("model.safetensors");
        File.Copy(Stories.ModelPath, path);
        using (SafetensorsFile mapped = SafetensorsFile.Open(path))
        {
            // Save the first three tensors over the very file the views point into.
            SafetensorsSaver.Save(path, mapped.Tensors.Take(3), new Dictionary<string, string> { ["format"] = "pt", ["pruned"] = "yes" });
            Assert.Equal(47, mapped.Tensors.Count);
        }
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(3, file.Tensors.Count);
        Assert.Equal("yes", file.Metadata["pruned"]);
        using SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath);
        Assert.True(original.Tensors[2].Bytes.SequenceEqual(file.Tensors[2].Bytes));
        Assert.Single(Directory.GetFiles(_dir.Path));
    }
}
