using System.Buffers.Binary;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Tensors.Tests.Safetensors;

/// <summary>
/// Corrupts the real stories260K file every way the format can break. Each case must either open (a benign
/// change) or throw <see cref="SafetensorsException"/> naming the file; any other exception fails the test.
/// </summary>
public sealed class CorruptionTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    /// <summary>Opens <paramref name="path"/>; returns null when it opened fine, else the SafetensorsException.</summary>
    private static unsafe SafetensorsException? TryOpen(string path, string what)
    {
        try
        {
            using SafetensorsFile file = SafetensorsFile.Open(path);
            // It opened: every view must lie inside the mapping, so reading all of it must be safe.
            long sum = 0;
            foreach (TensorView t in file.Tensors)
            {
                for (long i = 0; i < t.ByteLength; i += 4096)
                {
                    sum += t.Data[i];
                }
            }
            GC.KeepAlive(sum);
            return null;
        }
        catch (SafetensorsException e)
        {
            Assert.Contains(path, e.Message);
            return e;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{what}: expected SafetensorsException, got {e.GetType().Name}: {e.Message}");
        }
    }

    private SafetensorsException Rejects(byte[] bytes, string what)
    {
        string path = _dir.File("case.safetensors");
        File.WriteAllBytes(path, bytes);
        return TryOpen(path, what) ?? throw new Xunit.Sdk.XunitException($"{what}: opened, expected SafetensorsException");
    }

    [Fact]
    public unsafe void Truncation_at_every_region_boundary_and_a_sweep_is_rejected()
    {
        byte[] original = Stories.Bytes;
        var points = new SortedSet<long>(Comparer<long>.Create((a, b) => b.CompareTo(a)));
        for (long i = 0; i <= 16; i++)
        {
            points.Add(i);
        }
        long dataStart = 8 + Stories.HeaderLength;
        foreach (long p in new[] { dataStart - 1, dataStart, dataStart + 1, original.Length - 1 })
        {
            points.Add(p);
        }
        using (SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath))
        {
            foreach (TensorView t in file.Tensors)
            {
                long begin = dataStart + (t.Data - file.Tensors[0].Data);
                points.Add(begin);
                points.Add(begin + 1);
                points.Add(begin + t.ByteLength - 1);
            }
        }
        for (long p = 17; p < original.Length; p += 3331)
        {
            points.Add(p);
        }
        points.Remove(original.Length);

        // Shrink one copy step by step, longest first, instead of writing a new file per point.
        string path = _dir.File("truncated.safetensors");
        File.WriteAllBytes(path, original);
        foreach (long length in points)
        {
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
            {
                stream.SetLength(length);
            }
            Assert.NotNull(TryOpen(path, $"truncated to {length} bytes"));
        }
        Assert.True(points.Count > 150, $"only {points.Count} truncation points");
    }

    [Fact]
    public void Random_byte_flips_in_the_length_prefix_and_header_never_escape_as_another_exception()
    {
        byte[] original = Stories.Bytes;
        string path = _dir.File("flipped.safetensors");
        File.WriteAllBytes(path, original);
        var random = new Random(20240611);
        int rejected = 0, opened = 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        for (int round = 0; round < 400; round++)
        {
            // Mostly single flips; every fifth round flips three bytes at once.
            int count = round % 5 == 4 ? 3 : 1;
            var positions = new int[count];
            for (int k = 0; k < count; k++)
            {
                positions[k] = round % 40 == 0 ? random.Next(8) : random.Next(8 + Stories.HeaderLength);
                stream.Position = positions[k];
                stream.WriteByte((byte)(original[positions[k]] ^ random.Next(1, 256)));
            }
            stream.Flush();
            if (TryOpen(path, $"round {round}: bytes {string.Join(", ", positions)} flipped") is null)
            {
                opened++;
            }
            else
            {
                rejected++;
            }
            foreach (int p in positions)
            {
                stream.Position = p;
                stream.WriteByte(original[p]);
            }
            stream.Flush();
        }
        // Most flips in a dense header break something; a few (inside a name, a metadata value) are benign.
        Assert.True(rejected > 200, $"only {rejected} of 400 flips rejected ({opened} opened)");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void File_shorter_than_8_bytes(int length)
    {
        var e = Rejects(new byte[length], $"{length}-byte file");
        Assert.Contains($"file is {length} bytes", e.Message);
    }

    [Fact]
    public void Header_length_beyond_the_file()
    {
        byte[] bytes = (byte[])Stories.Bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        var e = Rejects(bytes, "header length = file length");
        Assert.Contains($"only {bytes.Length - 8} bytes follow", e.Message);
        Assert.Equal(0, e.Offset);
    }

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void Absurd_header_length(ulong length)
    {
        byte[] bytes = (byte[])Stories.Bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        var e = Rejects(bytes, $"header length {length}");
        Assert.Contains("above the 100000000-byte limit", e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_the_header()
    {
        byte[] bytes = (byte[])Stories.Bytes.Clone();
        int at = Stories.HeaderJson.IndexOf("embed_tokens", StringComparison.Ordinal) + 8;
        bytes[at] = 0xFF;
        var e = Rejects(bytes, "0xFF in a name");
        Assert.Contains("not valid UTF-8", e.Message);
        Assert.Equal(at, e.Offset);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"a\":")]
    [InlineData("{\"__metadata__\":{\"format\":\"pt\"},}")]
    [InlineData("{} x")]
    [InlineData("{}{}")]
    [InlineData("{/*c*/}")]
    [InlineData("{\"\\uD800\":{}}")]
    public void Invalid_json(string header)
    {
        var e = Rejects(Stories.Assemble(header, []), $"header '{header}'");
        Assert.Contains("header", e.Message);
    }

    [Theory]
    [InlineData("[]", "list")]
    [InlineData("\"model\"", "string")]
    [InlineData("42", "number")]
    [InlineData("null", "null")]
    public void Header_that_is_not_an_object(string header, string kind)
    {
        var e = Rejects(Stories.Assemble(header, []), $"header '{header}'");
        Assert.Contains($"header is a JSON {kind}, expected an object", e.Message);
    }

    [Fact]
    public void Empty_header_object_with_no_data_opens()
    {
        string path = _dir.File("empty.safetensors");
        File.WriteAllBytes(path, Stories.Assemble("{}      ", []));
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }

    public static TheoryData<string, string, string> HeaderEdits => new()
    {
        // find, replace, expected message fragment
        { "\"dtype\":\"F32\",\"shape\":[512,64]", "\"dtype\":\"F8\",\"shape\":[512,64]", "unknown dtype 'F8'" },
        { "\"dtype\":\"F32\",\"shape\":[512,64]", "\"dtype\":\"f32\",\"shape\":[512,64]", "unknown dtype 'f32'" },
        { "\"dtype\":\"F32\",\"shape\":[512,64]", "\"dtype\":32,\"shape\":[512,64]", "dtype is a number" },
        { "\"dtype\":\"F32\",\"shape\":[512,64]", "\"shape\":[512,64]", "has no dtype" },
        { "\"shape\":[512,64]", "\"shape\":512", "shape is a number, expected a list" },
        { "\"shape\":[512,64]", "\"shape\":[-512,-64]", "holds -512, expected an integer from 0 to 9223372036854775807" },
        { "\"shape\":[512,64]", "\"shape\":[512.0,64]", "holds 512.0" },
        { "\"shape\":[512,64]", "\"shape\":[5.12e2,64]", "holds 5.12e2" },
        { "\"shape\":[512,64]", "\"shape\":[\"512\",64]", "holds a string" },
        { "\"shape\":[512,64]", "\"shape\":[99999999999999999999,64]", "holds 99999999999999999999, expected an integer from 0 to 9223372036854775807" }, // not "a non-negative integer": it is one
        { "\"shape\":[512,64]", "\"shape\":[4294967296,4294967296]", "has too many elements" },
        // 2^62 F32 elements are 2^64 bytes, which wraps to 0 in a long: an empty span must not pass for them.
        { "\"model.embed_tokens.weight\":{", "\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]},\"model.embed_tokens.weight\":{", "shape [4611686018427387904] has too many bytes" },
        { "\"shape\":[512,64]", "\"shape\":[64,512,1],\"shape\":[512,64]", "has 'shape' twice" },
        { "\"dtype\":\"F32\",\"shape\":[512,64]", "\"dtype\":\"F16\",\"dtype\":\"F32\",\"shape\":[512,64]", "tensor 'model.embed_tokens.weight' has 'dtype' twice" }, // not the last one taken
        { "\"shape\":[512,64]", "\"shape\":[512,63]", "needs 129024 bytes, but data_offsets [0, 131072] span 131072" },
        { "\"shape\":[512,64]", "\"shape\":[]", "needs 4 bytes" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":[131072,0]", "end before begin" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":[0]", "has 1 numbers, expected 2" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":[0,131072,1]", "has 3 numbers, expected 2" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":{}", "data_offsets is a object" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":[2000000,2131072]", "reach past the data section of 1040128 bytes" },
        { "\"data_offsets\":[0,131072]", "\"data_offsets\":[1,131073]", "begins at data offset 1, expected 0: a gap of 1 bytes after the start of the data section" },
        { "\"data_offsets\":[131072,131328]", "\"data_offsets\":[131068,131324]", "overlap tensor 'model.embed_tokens.weight', which ends at 131072" },
        { "\"data_offsets\":[131072,131328]", "\"data_offsets\":[131071,131327]", "data_offsets [131071, 131327] overlap tensor 'model.embed_tokens.weight', which ends at 131072" }, // by one byte
        { "\"data_offsets\":[1039872,1040128]", "\"data_offsets\":[1039868,1040124]", "overlap tensor 'model.layers.4.mlp.up_proj.weight', which ends at 1039872" },
        { "\"data_offsets\":[1039872,1040128]", "\"data_offsets\":[1039872,1039876]", "shape [64] needs 256 bytes" },
        { ",\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[1039872,1040128]}", "", "256 trailing bytes belong to no tensor" },
        { "\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[512,64],\"data_offsets\":[0,131072]},", "", "begins at data offset 131072, expected 0" },
        { "\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[131072,131328]},", "", "a gap of 256 bytes after tensor 'model.embed_tokens.weight'" },
        { "\"model.layers.0.input_layernorm.weight\":{", "\"model.embed_tokens.weight\":{", "header names 'model.embed_tokens.weight' twice" },
        { "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[1039872,1040128]}", "\"model.norm.weight\":[1039872,1040128]", "tensor 'model.norm.weight' is a list" },
        { "{\"format\":\"pt\"}", "{\"format\":\"pt\",\"format\":\"np\"}", "metadata names 'format' twice" },
        { "{\"format\":\"pt\"}", "{\"format\":1}", "metadata value of 'format' is a number" },
        { "{\"format\":\"pt\"}", "[\"pt\"]", "'__metadata__' is a list" },
        { "\"__metadata__\":{\"format\":\"pt\"}", "\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{}", "header names '__metadata__' twice" },
    };

    [Theory]
    [MemberData(nameof(HeaderEdits))]
    public void Targeted_header_edit_is_rejected_with_a_precise_message(string find, string replace, string expected)
    {
        var e = Rejects(Stories.WithHeaderEdit(find, replace), $"'{find}' → '{replace}'");
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Truncated_data_names_the_missing_bytes()
    {
        byte[] bytes = Stories.Bytes.AsSpan(0, Stories.Bytes.Length - 10).ToArray();
        var e = Rejects(bytes, "10 bytes cut off the end");
        Assert.Contains("tensor 'model.norm.weight' data_offsets [1039872, 1040128] reach past the data section of 1040118 bytes", e.Message);
    }

    [Fact]
    public void Trailing_bytes_after_the_last_tensor()
    {
        byte[] bytes = [.. Stories.Bytes, 0, 0, 0, 0];
        var e = Rejects(bytes, "4 bytes appended");
        Assert.Contains("4 trailing bytes belong to no tensor", e.Message);
    }

    [Fact]
    public void Benign_changes_open()
    {
        // Unknown fields are ignored, metadata may be null, whitespace may pad the header.
        string path = _dir.File("benign.safetensors");
        File.WriteAllBytes(path, Stories.WithHeaderEdit("\"data_offsets\":[0,131072]", "\"data_offsets\":[0,131072],\"extra\":{\"x\":[1,2]}"));
        Assert.Null(TryOpen(path, "extra field"));
        File.WriteAllBytes(path, Stories.WithHeaderEdit("{\"format\":\"pt\"}", "null"));
        using (SafetensorsFile file = SafetensorsFile.Open(path))
        {
            Assert.Empty(file.Metadata);
        }
        File.WriteAllBytes(path, Stories.Assemble(" \n" + Stories.HeaderJson + "\t\r\n", Stories.Data));
        Assert.Null(TryOpen(path, "whitespace around the header"));
    }

    /// <summary>
    /// Empty tensors may sit at any offset, even where a tensor with data begins: they come first there (ordered by
    /// end), and among themselves in header order, not by name. Sorted by begin alone, the empty ones listed after
    /// the embedding read as overlapping it.
    /// </summary>
    [Fact]
    public void Empty_tensors_at_a_shared_offset_come_first_in_header_order()
    {
        string path = _dir.File("empty-tensors.safetensors");
        File.WriteAllBytes(path, Stories.WithHeaderEdit("\"model.layers.0.input_layernorm.weight\":{",
            "\"z.empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}," +
            "\"a.empty\":{\"dtype\":\"BF16\",\"shape\":[0,64],\"data_offsets\":[0,0]}," +
            "\"model.layers.0.input_layernorm.weight\":{"));
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["z.empty", "a.empty", "model.embed_tokens.weight"], file.Tensors.Take(3).Select(t => t.Name));
        Assert.Equal(0, file["a.empty"].ByteLength);
        Assert.Equal(131072, file["model.embed_tokens.weight"].ByteLength);
    }

    [Fact]
    public void Header_with_non_ascii_names_decodes()
    {
        string path = _dir.File("unicode.safetensors");
        byte[] bytes = Stories.WithHeaderEdit("\"model.norm.weight\"", "\"model.nörm.wéight \\u00e9\\\"\"");
        File.WriteAllBytes(path, bytes);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.True(file.TryGet("model.nörm.wéight é\"", out TensorView v));
        Assert.Equal(64, v.ElementCount);
        Assert.Equal(bytes.Length - Stories.Data.Length, file.DataOffset);
    }
}
