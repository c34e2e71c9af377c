using System.Text;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Tensors.Tests.Safetensors;

public sealed class SafetensorsCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Model_folder_opens_its_model_safetensors()
    {
        using var checkpoint = SafetensorsCheckpoint.Open(TestData.Stories260K);
        Assert.Single(checkpoint.Files);
        Assert.Equal(47, checkpoint.Tensors.Count);
        Assert.Equal("pt", checkpoint.Metadata["format"]);
        Assert.Equal([64L], checkpoint["model.norm.weight"].Shape);
        var e = Assert.Throws<SafetensorsException>(() => checkpoint["lm_head.weight"]);
        Assert.Contains("no tensor 'lm_head.weight'", e.Message);
    }

    /// <summary>A compact entry whose parts are not there was counted by inspect and dropped without a word by densify.</summary>
    [Fact]
    public void A_checkpoint_whose_metadata_declares_a_compact_weight_without_its_parts_is_refused()
    {
        Assert.Equal($"{_dir.File("orphan.safetensors")}: metadata entry 'copal.sparse.foo.weight' declares 'foo.weight' compact (nm), but the checkpoint lacks part of it: 'foo.weight.nm_index'",
            RefusalAtOpen("orphan.safetensors", [new("foo.weight.nm_values", DType.F32, [1, 2])], "format=nm;n=2;m=4;rows=1;cols=4;dtype=F32"));

        // An entry that does not parse is the file's fault too (it escaped as an internal error, leaking the mapping).
        Assert.Equal($"{_dir.File("garbled.safetensors")}: tensor 'foo.weight': metadata item 'garbage' is not key=value",
            RefusalAtOpen("garbled.safetensors", [new("a", DType.F32, [1])], "garbage"));
    }

    /// <summary>
    /// The message with which a checkpoint of <paramref name="specs"/> (zero bytes) whose metadata declares foo.weight
    /// compact by <paramref name="entry"/> is refused when it opens.
    /// </summary>
    private string RefusalAtOpen(string file, TensorSpec[] specs, string entry)
    {
        string path = _dir.File(file);
        using (var writer = SafetensorsWriter.Create(path, specs, new Dictionary<string, string> { ["copal.sparse.foo.weight"] = entry }))
        {
            foreach (TensorSpec spec in specs)
            {
                writer.Write(spec.Name, new byte[spec.ByteLength]);
            }
            writer.Commit();
        }
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(path));
        File.Delete(path); // the file is no longer mapped
        return e.Message;
    }

    /// <summary>
    /// An entry that parses but cannot be read as a compact weight (no format, an unknown one, no rows, cols that are
    /// not a number) passed the open, since it names no parts to check: inspect then failed as "internal error
    /// (SparseFormatException) … this is a bug in copal", or counted a weight of format 'foo' as parameters.
    /// </summary>
    [Theory]
    [InlineData("", "metadata lacks 'format'")]
    [InlineData("format=nm;n=2;m=4;index=rank;cols=4;dtype=F32", "metadata lacks 'rows'")]
    [InlineData("format=bitmask;rows=1;cols=x;dtype=F32", "metadata 'cols=x' is not a non-negative integer")]
    [InlineData("format=foo;rows=1;cols=4;dtype=F32", "unknown sparse format 'foo', expected 'nm' or 'bitmask'")]
    public void A_compact_entry_without_a_known_format_or_its_dense_shape_is_refused_at_open(string entry, string expected)
    {
        Assert.Equal($"{_dir.File("undeclared.safetensors")}: tensor 'foo.weight': {expected}",
            RefusalAtOpen("undeclared.safetensors", [new("a", DType.F32, [1])], entry));
    }

    /// <summary>
    /// inspect counts a compact weight's parameters from its declared dense shape: an entry claiming 2^31 − 1 rows
    /// and columns over parts of one row made it report 4,611,686,014,132,676,545 parameters, where a run refused it.
    /// </summary>
    [Theory]
    [InlineData("format=bitmask;rows=2147483647;cols=2147483647;dtype=F32", "part 'foo.weight.bm_mask' has shape [1, 1], expected [2147483647, 268435456]")]
    [InlineData("format=bitmask;rows=1;cols=16;dtype=F32", "part 'foo.weight.bm_mask' has shape [1, 1], expected [1, 2]")]
    [InlineData("format=nm;n=2;m=4;index=fields;rows=1;cols=8;dtype=F32", "part 'foo.weight.nm_values' has shape [1, 2], expected [1, 4]")]
    [InlineData("format=nm;n=2;m=4;index=fields;rows=1;cols=6;dtype=F32", "6 columns are not a multiple of M = 4")]
    public void A_compact_entry_whose_parts_do_not_have_its_declared_shape_is_refused_at_open(string entry, string expected)
    {
        bool bitmask = entry.StartsWith("format=bitmask", StringComparison.Ordinal);
        TensorSpec[] specs = bitmask
            ? [new("foo.weight.bm_mask", DType.U8, [1, 1]), new("foo.weight.bm_offsets", DType.I64, [2]), new("foo.weight.bm_values", DType.F32, [1])]
            : [new("foo.weight.nm_values", DType.F32, [1, 2]), new("foo.weight.nm_index", DType.U8, [1, 1])];
        Assert.Equal($"{_dir.File("misdeclared.safetensors")}: tensor 'foo.weight': {expected}", RefusalAtOpen("misdeclared.safetensors", specs, entry));
    }

    /// <summary>
    /// A weight stored both dense and compact is two different weights under one name: inspect counted both, a model
    /// ran on the compact one and ignored the other, and densify failed writing its output twice.
    /// </summary>
    [Fact]
    public void A_checkpoint_holding_a_weight_both_dense_and_compact_is_refused()
    {
        TensorSpec[] specs = [new("foo.weight", DType.F32, [1, 4]), new("foo.weight.nm_values", DType.F32, [1, 2]), new("foo.weight.nm_index", DType.U8, [1, 1])];
        Assert.Equal($"{_dir.File("both.safetensors")}: tensor 'foo.weight' is stored both dense and compact (metadata entry 'copal.sparse.foo.weight' and its parts); expected one or the other",
            RefusalAtOpen("both.safetensors", specs, "format=nm;n=2;m=4;index=fields;rows=1;cols=4;dtype=F32"));
    }

    /// <summary>After Dispose the views would point into unmapped memory: every accessor refuses instead.</summary>
    [Theory]
    [InlineData(WeightResidence.Mapped)]
    [InlineData(WeightResidence.Memory)]
    public void A_disposed_checkpoint_hands_out_no_views_and_Dispose_again_is_harmless(WeightResidence residence)
    {
        var checkpoint = SafetensorsCheckpoint.Open(TestData.Stories260K, residence);
        checkpoint.Dispose();
        checkpoint.Dispose();
        static void Names(ObjectDisposedException e) => Assert.Equal(typeof(SafetensorsCheckpoint).FullName, e.ObjectName);
        Names(Assert.Throws<ObjectDisposedException>(() => checkpoint.Tensors));
        Names(Assert.Throws<ObjectDisposedException>(() => checkpoint.TryGet("model.norm.weight", out _)));
        Names(Assert.Throws<ObjectDisposedException>(() => checkpoint["model.norm.weight"]));
        Names(Assert.Throws<ObjectDisposedException>(() => checkpoint.Files));
    }

    [Fact]
    public void A_single_file_or_the_only_safetensors_file_in_a_folder_opens()
    {
        using (var direct = SafetensorsCheckpoint.Open(Stories.ModelPath))
        {
            Assert.Equal(47, direct.Tensors.Count);
        }
        File.Copy(Stories.ModelPath, _dir.File("weights.safetensors"));
        using (var only = SafetensorsCheckpoint.Open(_dir.Path))
        {
            Assert.EndsWith("weights.safetensors", only.Files[0].Path);
        }
        File.Copy(Stories.ModelPath, _dir.File("other.safetensors"));
        var two = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains("2 *.safetensors files (other.safetensors, weights.safetensors)", two.Message);
    }

    [Fact]
    public void Empty_folder_or_missing_path_is_a_SafetensorsException()
    {
        Assert.Contains("no model.safetensors", Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path)).Message);
        Assert.Contains("no such file", Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.File("nope"))).Message);
    }

    /// <summary>Splits stories260K into two shards and an index, as Hugging Face's save_pretrained does.</summary>
    private (string Shard1, string Shard2) WriteSharded(Func<string, string, string>? editIndex = null)
    {
        const string shard1 = "model-00001-of-00002.safetensors", shard2 = "model-00002-of-00002.safetensors";
        using SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath);
        var first = original.Tensors.Take(20).ToList();
        var second = original.Tensors.Skip(20).ToList();
        SafetensorsSaver.Save(_dir.File(shard1), first, original.Metadata);
        SafetensorsSaver.Save(_dir.File(shard2), second, original.Metadata);
        var json = new StringBuilder("{\n  \"metadata\": {\"total_size\": 1040128},\n  \"weight_map\": {\n");
        // HF writes the map sorted by tensor name, not by shard.
        var entries = first.Select(t => (t.Name, shard1)).Concat(second.Select(t => (t.Name, shard2))).OrderBy(p => p.Name, StringComparer.Ordinal);
        json.AppendJoin(",\n", entries.Select(p => $"    \"{p.Name}\": \"{p.Item2}\""));
        json.Append("\n  }\n}\n");
        string index = json.ToString();
        File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), editIndex is null ? index : editIndex(index, shard2));
        return (shard1, shard2);
    }

    [Fact]
    public void A_sharded_checkpoints_metadata_is_every_shards_for_the_summary()
    {
        // A copal.sparse.* entry describes a weight in whichever shard holds it; the summary must see it there.
        const string shard1 = "model-00001-of-00002.safetensors", shard2 = "model-00002-of-00002.safetensors";
        using (SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath))
        {
            SafetensorsSaver.Save(_dir.File(shard1), original.Tensors.Take(20).ToList(), new Dictionary<string, string> { ["format"] = "pt" });
            SafetensorsSaver.Save(_dir.File(shard2), original.Tensors.Skip(20).ToList(), new Dictionary<string, string> { ["format"] = "pt", ["later"] = "shard 2" });
            string map = string.Join(",", original.Tensors.Select((t, i) => $"\"{t.Name}\": \"{(i < 20 ? shard1 : shard2)}\""));
            File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), $"{{\"weight_map\": {{{map}}}}}");
        }
        using var sharded = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.False(sharded.Metadata.ContainsKey("later")); // the first file's alone
        Assert.Equal("shard 2", sharded.MergedMetadata()["later"]);
        Assert.Equal("shard 2", CheckpointSummary.From(sharded).Metadata["later"]);
    }

    [Fact]
    public void Sharded_checkpoint_reads_every_tensor_from_its_shard()
    {
        WriteSharded();
        using var sharded = SafetensorsCheckpoint.Open(_dir.Path);
        using SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath);
        Assert.Equal(2, sharded.Files.Count);
        Assert.Equal(original.Tensors.Select(t => t.Name), sharded.Tensors.Select(t => t.Name));
        foreach (TensorView t in original.Tensors)
        {
            Assert.True(sharded.TryGet(t.Name, out TensorView s));
            Assert.Equal(t.Shape, s.Shape);
            Assert.True(t.Bytes.SequenceEqual(s.Bytes), t.Name);
        }
        Assert.Equal("pt", sharded.Metadata["format"]);
        Assert.EndsWith("model-00002-of-00002.safetensors", sharded.Files[1].Path);

        using var viaIndex = SafetensorsCheckpoint.Open(_dir.File(SafetensorsCheckpoint.IndexFileName));
        Assert.Equal(47, viaIndex.Tensors.Count);
    }

    [Fact]
    public void Index_naming_a_missing_shard_is_rejected()
    {
        (_, string shard2) = WriteSharded();
        File.Delete(_dir.File(shard2));
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains($"weight_map names shard '{shard2}', which is not in the index's folder", e.Message);
        Assert.Contains(SafetensorsCheckpoint.IndexFileName, e.Message);
    }

    /// <summary>
    /// A shard's own errors (truncated, a bad header) name it under the folder as the caller gave it: a relative model
    /// path stays relative, as a single-file checkpoint's errors are, not the absolute path of the shard.
    /// </summary>
    [Fact]
    public void A_bad_shard_is_named_under_the_relative_folder_given()
    {
        (_, string shard2) = WriteSharded();
        using (var f = new FileStream(_dir.File(shard2), FileMode.Open))
        {
            f.SetLength(f.Length / 2);
        }
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, _dir.Path);
        Assert.False(Path.IsPathRooted(relative));

        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(relative));

        Assert.StartsWith($"{Path.Combine(relative, shard2)}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_placing_a_tensor_in_the_wrong_shard_is_rejected()
    {
        WriteSharded((index, shard2) => index.Replace("\"model.norm.weight\": \"" + shard2 + "\"", "\"model.norm.weight\": \"model-00001-of-00002.safetensors\"", StringComparison.Ordinal));
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains("puts tensor 'model.norm.weight' in shard 'model-00001-of-00002.safetensors', but that shard does not hold it", e.Message);
    }

    /// <summary>
    /// Two shards that both hold a tensor (a stale shard left next to new ones): the index puts it in one, and the
    /// other's copy is refused naming both shards, not kept as a second tensor of the same name.
    /// </summary>
    [Fact]
    public void A_tensor_held_by_a_second_shard_besides_the_one_the_index_names_is_rejected()
    {
        const string shard1 = "model-00001-of-00002.safetensors", shard2 = "model-00002-of-00002.safetensors";
        using (SafetensorsFile original = SafetensorsFile.Open(Stories.ModelPath))
        {
            SafetensorsSaver.Save(_dir.File(shard1), original.Tensors.Take(20).ToList(), original.Metadata);
            SafetensorsSaver.Save(_dir.File(shard2), original.Tensors.Skip(19).ToList(), original.Metadata);
            string map = string.Join(",", original.Tensors.Select((t, i) => $"\"{t.Name}\": \"{(i < 20 ? shard1 : shard2)}\""));
            File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), $"{{\"weight_map\": {{{map}}}}}");
            string twice = original.Tensors[19].Name;
            var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
            Assert.Contains($"shard '{shard2}' holds tensor '{twice}', which weight_map puts in '{shard1}'", e.Message);
        }
    }

    /// <summary>
    /// Two shards that describe one compact weight differently: whichever entry were taken, the parts would be decoded
    /// by a layout the other shard denies, so the checkpoint is refused naming the entry and both values.
    /// </summary>
    [Fact]
    public void Shards_that_describe_a_compact_weight_differently_are_refused()
    {
        const string shard1 = "model-00001-of-00002.safetensors", shard2 = "model-00002-of-00002.safetensors";
        const string fields = "format=nm;n=2;m=4;index=fields;rows=1;cols=4;dtype=F32", rank = "format=nm;n=2;m=4;index=rank;rows=1;cols=4;dtype=F32";
        void Write(string file, TensorSpec[] specs, string entry)
        {
            using var writer = SafetensorsWriter.Create(_dir.File(file), specs, new Dictionary<string, string> { ["copal.sparse.foo.weight"] = entry });
            foreach (TensorSpec spec in specs)
            {
                writer.Write(spec.Name, new byte[spec.ByteLength]);
            }
            writer.Commit();
        }
        Write(shard1, [new("foo.weight.nm_values", DType.F32, [1, 2]), new("foo.weight.nm_index", DType.U8, [1, 1])], fields);
        Write(shard2, [new("bar", DType.F32, [1])], rank);
        File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName),
            $"{{\"weight_map\": {{\"foo.weight.nm_values\": \"{shard1}\", \"foo.weight.nm_index\": \"{shard1}\", \"bar\": \"{shard2}\"}}}}");
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains($"metadata entry 'copal.sparse.foo.weight' is '{rank}' here, but '{_dir.File(shard1)}' holds '{fields}'", e.Message);
    }

    [Fact]
    public void Index_listing_an_absent_tensor_or_missing_one_is_rejected()
    {
        WriteSharded((index, shard2) => index.Replace("\"model.norm.weight\"", "\"model.norm.bias\"", StringComparison.Ordinal));
        var absent = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains("'model.norm.bias'", absent.Message);
        Assert.Contains("nearest names: 'model.norm.weight'", absent.Message);

        WriteSharded((index, shard2) => index.Replace(",\n    \"model.norm.weight\": \"" + shard2 + "\"", "", StringComparison.Ordinal));
        var unlisted = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Contains("holds tensor 'model.norm.weight', which weight_map does not list", unlisted.Message);
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors", "expected a plain file name")]
    [InlineData("", "expected a plain file name")]
    [InlineData("..", "expected a plain file name")]
    [InlineData(".", "expected a plain file name")]
    public void Index_with_a_bad_shard_name_is_rejected(string shardName, string expected)
    {
        WriteSharded((index, shard2) => index.Replace("\"" + shard2 + "\"", "\"" + shardName + "\"", StringComparison.Ordinal));
        Assert.Contains(expected, Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path)).Message);
    }

    /// <summary>
    /// A shard index is read whole, so a file far larger than any index (a data set given as the model, a link to a
    /// device) is refused by its size, or once that much has been read where it has none, rather than read into
    /// memory until the process runs out of it.
    /// </summary>
    [LinuxFact]
    public void An_index_larger_than_any_index_is_refused_by_its_size_or_as_it_is_read()
    {
        string large = _dir.File("large.index.json");
        using (var stream = new FileStream(large, FileMode.CreateNew))
        {
            stream.SetLength(ShardIndex.MaxBytes + 1); // sparse: nothing written
        }
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(large));
        Assert.Equal($"{large}: cannot read the shard index: it is {ShardIndex.MaxBytes + 1} bytes, more than a model.safetensors.index.json holds (at most {ShardIndex.MaxBytes})", e.Message);

        File.CreateSymbolicLink(_dir.File(SafetensorsCheckpoint.IndexFileName), "/dev/zero");
        e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path));
        Assert.Equal($"{_dir.File(SafetensorsCheckpoint.IndexFileName)}: cannot read the shard index: more than {ShardIndex.MaxBytes} bytes came from it, more than a model.safetensors.index.json holds", e.Message);
    }

    [Theory]
    [InlineData("{\"metadata\": {}}", "has no 'weight_map'")]
    [InlineData("{\"weight_map\": []}", "'weight_map' is not an object")]
    [InlineData("{\"weight_map\": {\"a\": 1}}", "weight_map entry 'a' is not a file name string")]
    [InlineData("{\"weight_map\": {}}", "weight_map is empty")]
    [InlineData("{\"weight_map\": {\"a\": \"x\", \"a\": \"x\"}}", "names tensor 'a' twice")]
    // json.load keeps the last of two; which map a reader took would depend on the reader.
    [InlineData("{\"weight_map\": {\"a\": \"x\"}, \"weight_map\": {\"b\": \"x\"}}", "has 'weight_map' twice")]
    [InlineData("{\"weight_map\": {", "not valid JSON")]
    // json.load (and so transformers) refuses what follows the object; a damaged index is not read as if whole.
    [InlineData("{\"weight_map\": {\"a\": \"x\"}} x", "not valid JSON")]
    [InlineData("{\"weight_map\": {\"a\": \"x\"}}}", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    public void Malformed_index_is_rejected(string index, string expected)
    {
        File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), index);
        Assert.Contains(expected, Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(_dir.Path)).Message);
    }

    [Fact]
    public void Summary_counts_parameters_and_bytes_by_dtype()
    {
        using var checkpoint = SafetensorsCheckpoint.Open(TestData.Stories260K);
        CheckpointSummary summary = CheckpointSummary.From(checkpoint);
        Assert.Equal(260_032, summary.ParameterCount);
        Assert.Equal(1_040_128, summary.ByteCount);
        Assert.Equal(47, summary.Tensors.Count);
        Assert.Equal(new DTypeTotals(47, 260_032, 1_040_128), Assert.Single(summary.ByDType).Value);
        Assert.Equal("[172, 64]", summary.Tensors.Single(t => t.Name == "model.layers.0.mlp.gate_proj.weight").ShapeString);
        Assert.All(summary.Tensors, t => Assert.Equal("model.safetensors", t.File));
    }

    [Fact]
    public void Summary_of_mixed_dtypes_and_shards()
    {
        string path = _dir.File("mixed.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [new("w", DType.BF16, [4, 3]), new("b", DType.F32, [3]), new("m", DType.Bool, [2, 2]), new("v", DType.BF16, [5])]))
        {
            writer.Write("w", new byte[24]);
            writer.Write("b", new byte[12]);
            writer.Write("m", new byte[4]);
            writer.Write("v", new byte[10]);
            writer.Commit();
        }
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        CheckpointSummary summary = CheckpointSummary.From(checkpoint);
        Assert.Equal(12 + 3 + 4 + 5, summary.ParameterCount);
        Assert.Equal(24 + 12 + 4 + 10, summary.ByteCount);
        Assert.Equal([DType.F32, DType.BF16, DType.Bool], summary.ByDType.Keys);
        Assert.Equal(new DTypeTotals(2, 17, 34), summary.ByDType[DType.BF16]);
    }

    /// <summary>
    /// A model file or shard index that is a link to nothing (or was removed after the folder was listed) is said to
    /// be missing: it read "cannot open: the file system there does not allow it", a write's reason, untrue for a read.
    /// </summary>
    [LinuxFact]
    public void A_model_file_that_links_to_nothing_is_said_to_be_missing()
    {
        string folder = Directory.CreateDirectory(_dir.File("dangling")).FullName;
        string weights = Path.Combine(folder, "model.safetensors");
        File.CreateSymbolicLink(weights, _dir.File("absent.safetensors"));
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(folder));
        Assert.Equal($"{weights}: cannot open: {Copal.Tensors.IO.ReadFailure.Missing}", e.Message);

        File.Delete(weights);
        string index = Path.Combine(folder, SafetensorsCheckpoint.IndexFileName);
        File.CreateSymbolicLink(index, _dir.File("absent.json"));
        e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(folder));
        Assert.Equal($"{index}: cannot read the shard index: {Copal.Tensors.IO.ReadFailure.Missing}", e.Message);
    }
}
