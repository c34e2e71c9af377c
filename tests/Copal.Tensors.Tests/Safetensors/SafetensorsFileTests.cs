using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Tensors.Tests.Safetensors;

public class SafetensorsFileTests
{
    // llama2.c v0 layout of the same weights: 7 int32 header fields, then F32 arrays in this order.
    private const int Dim = 64, Hidden = 172, Layers = 5, KvDim = 32, Vocab = 512;

    private static long Llama2cOffset(string array, int layer = 0)
    {
        long at = 7 * 4;
        long tok = (long)Vocab * Dim, rmsAtt = (long)Layers * Dim, wq = (long)Layers * Dim * Dim, wk = (long)Layers * KvDim * Dim;
        long wv = wk, wo = wq, rmsFfn = rmsAtt, w1 = (long)Layers * Hidden * Dim, w2 = w1, w3 = w1;
        return array switch
        {
            "tok" => at,
            "rms_att" => at + (tok + (long)layer * Dim) * 4,
            "w2" => at + (tok + rmsAtt + wq + wk + wv + wo + rmsFfn + w1 + (long)layer * Dim * Hidden) * 4,
            "rms_final" => at + (tok + rmsAtt + wq + wk + wv + wo + rmsFfn + w1 + w2 + w3) * 4,
            _ => throw new ArgumentException(array),
        };
    }

    [Fact]
    public void Opens_stories260K_with_header_metadata_and_layout()
    {
        using SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath);
        Assert.Equal(Stories.ModelPath, file.Path);
        Assert.Equal(8 + 4848, file.DataOffset);
        Assert.Equal(47, file.Tensors.Count);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Single(file.Metadata);
        Assert.Equal(260_032, file.Tensors.Sum(t => t.ElementCount));

        TensorView embed = file["model.embed_tokens.weight"];
        Assert.Equal(DType.F32, embed.DType);
        Assert.Equal([512L, 64L], embed.Shape);
        Assert.Equal("model.embed_tokens.weight", file.Tensors[0].Name);
        Assert.Equal("model.norm.weight", file.Tensors[^1].Name);
    }

    [Fact]
    public unsafe void Tensors_are_in_offset_order_and_cover_the_data_section()
    {
        using SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath);
        byte* expected = file.Tensors[0].Data;
        foreach (TensorView t in file.Tensors)
        {
            Assert.True(t.Data == expected, $"{t.Name} is not where the previous tensor ended");
            expected += t.ByteLength;
        }
        Assert.Equal(new FileInfo(Stories.ModelPath).Length - file.DataOffset, expected - file.Tensors[0].Data);
    }

    [Fact]
    public void Values_match_the_original_llama2c_checkpoint()
    {
        // Tensors the converter copied unchanged must equal the llama2.c file's bytes: an independent check that
        // views point at the right bytes.
        byte[] original = File.ReadAllBytes(TestData.Path("models", "stories260K", "stories260K.llama2c.bin"));
        using SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath);
        AssertSameBytes(original, Llama2cOffset("tok"), file["model.embed_tokens.weight"]);
        AssertSameBytes(original, Llama2cOffset("rms_att", 2), file["model.layers.2.input_layernorm.weight"]);
        AssertSameBytes(original, Llama2cOffset("w2", 3), file["model.layers.3.mlp.down_proj.weight"]);
        AssertSameBytes(original, Llama2cOffset("rms_final"), file["model.norm.weight"]);
        Assert.Equal(Hidden, file["model.layers.3.mlp.down_proj.weight"].Shape[1]);
    }

    private static void AssertSameBytes(byte[] original, long offset, TensorView view)
    {
        Assert.True(original.AsSpan((int)offset, (int)view.ByteLength).SequenceEqual(view.Bytes), $"{view.Name} differs from llama2.c");
        Assert.NotEqual(0f, view.AsSpan<float>()[0]);
    }

    [Fact]
    public void Missing_tensor_names_the_file_and_the_nearest_names()
    {
        using SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath);
        var e = Assert.Throws<SafetensorsException>(() => file["model.layers.0.self_attn.q_prj.weight"]);
        Assert.Contains(Stories.ModelPath, e.Message);
        Assert.Contains("'model.layers.0.self_attn.q_prj.weight'", e.Message);
        Assert.Contains("'model.layers.0.self_attn.q_proj.weight'", e.Message);
        Assert.False(file.TryGet("lm_head.weight", out _));
    }

    [Fact]
    public void Missing_file_is_a_SafetensorsException()
    {
        using var dir = new TempDir("copal-io-");
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(dir.File("absent.safetensors")));
        Assert.Contains("absent.safetensors", e.Message);
    }

    [Fact]
    public void Disposed_file_refuses_lookups()
    {
        SafetensorsFile file = SafetensorsFile.Open(Stories.ModelPath);
        file.Dispose();
        file.Dispose();
        // Each lookup checks, through the tensors it shares with SafetensorsCheckpoint (NamedTensors), and names the file's type.
        static void Names(ObjectDisposedException e) => Assert.Equal(typeof(SafetensorsFile).FullName, e.ObjectName);
        Names(Assert.Throws<ObjectDisposedException>(() => file.TryGet("model.norm.weight", out _)));
        Names(Assert.Throws<ObjectDisposedException>(() => file["model.norm.weight"]));
        Names(Assert.Throws<ObjectDisposedException>(() => file.Tensors));
    }

    [Fact]
    public unsafe void Read_into_memory_gives_the_mapped_bytes_and_keeps_them_when_the_file_goes()
    {
        using var dir = new TempDir("copal-io-");
        string path = dir.File("model.safetensors");
        File.Copy(Stories.ModelPath, path);
        using SafetensorsFile mapped = SafetensorsFile.Open(Stories.ModelPath, WeightResidence.Mapped);
        using SafetensorsFile copy = SafetensorsFile.Open(path, WeightResidence.Memory);
        Assert.Equal(WeightResidence.Mapped, mapped.Residence);
        Assert.Equal(WeightResidence.Memory, copy.Residence);
        // The copy owns its bytes: the file it came from may be changed or deleted while it is open.
        File.WriteAllBytes(path, new byte[16]);
        File.Delete(path);
        Assert.Equal(mapped.DataOffset, copy.DataOffset);
        Assert.Equal(mapped.Tensors.Select(t => t.Name), copy.Tensors.Select(t => t.Name));
        for (int i = 0; i < mapped.Tensors.Count; i++)
        {
            TensorView a = mapped.Tensors[i], b = copy.Tensors[i];
            Assert.True(new ReadOnlySpan<byte>(a.Data, (int)a.ByteLength).SequenceEqual(new ReadOnlySpan<byte>(b.Data, (int)b.ByteLength)), a.Name);
            Assert.True(a.Data != b.Data);
        }
    }

    /// <summary>
    /// Reading a file into memory (--mmap off) writes every page of the copy: one that would not fit is refused,
    /// naming the file, before the copy is made, as the kernel's out-of-memory killer would otherwise end the process.
    /// </summary>
    [Fact]
    public void Read_into_memory_that_would_not_fit_is_refused_and_names_the_file()
    {
        long length = new FileInfo(Stories.ModelPath).Length;
        long reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);
        var e = Assert.Throws<Copal.Tensors.Backends.DeviceOutOfMemoryException>(() => SafetensorsFile.Open(
            Stories.ModelPath, WeightResidence.Memory, new HostBufferFit { CheckedBytes = 1024, AvailableMemory = () => reserve + (length / 2) }));
        Assert.True(e.OnHost);
        Assert.StartsWith($"host memory is short: {ByteSize.Format(length)} for reading '{Stories.ModelPath}' into memory did not fit (", e.Message, StringComparison.Ordinal);
        Assert.Equal("--mmap on maps the weights instead of copying them, which needs no such room", e.Remedy);

        using SafetensorsFile roomy = SafetensorsFile.Open(Stories.ModelPath, WeightResidence.Memory, new HostBufferFit { CheckedBytes = 1024, AvailableMemory = () => reserve + (2 * length) });
        Assert.Equal(WeightResidence.Memory, roomy.Residence);
    }

    /// <summary>
    /// Where the memory available is under twice the reserve a read-in copy must leave (a busy host), half of it no
    /// longer fits: auto maps such weights, as it would have to run at all, rather than reading them in and being
    /// refused as short of memory part way through the load.
    /// </summary>
    [Fact]
    public void Auto_maps_weights_that_would_eat_into_the_reserve_a_copy_must_leave()
    {
        long reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);
        long available = reserve + (reserve / 2);
        Assert.Equal(WeightResidence.Mapped, WeightResidencePolicy.Resolve(WeightResidence.Auto, available / 2, available));
        Assert.Equal(WeightResidence.Memory, WeightResidencePolicy.Resolve(WeightResidence.Auto, available - reserve, available));
        Assert.Equal(WeightResidence.Memory, WeightResidencePolicy.Resolve(WeightResidence.Memory, available / 2, available));
    }

    [Fact]
    public void Auto_reads_into_memory_up_to_half_of_the_available_memory_and_maps_beyond()
    {
        const long available = 8L << 30;
        Assert.Equal(WeightResidence.Memory, WeightResidencePolicy.Resolve(WeightResidence.Auto, available / 2, available));
        Assert.Equal(WeightResidence.Mapped, WeightResidencePolicy.Resolve(WeightResidence.Auto, available / 2 + 1, available));
        Assert.Equal(WeightResidence.Mapped, WeightResidencePolicy.Resolve(WeightResidence.Mapped, 1, available));
        Assert.Equal(WeightResidence.Memory, WeightResidencePolicy.Resolve(WeightResidence.Memory, long.MaxValue, available));
        long now = HostMemory.AvailableBytes();
        Assert.InRange(now, 1, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        using SafetensorsFile small = SafetensorsFile.Open(Stories.ModelPath, WeightResidence.Auto);
        Assert.Equal(WeightResidence.Memory, small.Residence);
    }

    [Fact]
    public void Reading_into_memory_stops_at_cancellation()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => SafetensorsFile.Open(Stories.ModelPath, WeightResidence.Memory, cancelled.Token));
        // Mapping reads nothing up front, so the same token does not stop it.
        using SafetensorsFile mapped = SafetensorsFile.Open(Stories.ModelPath, WeightResidence.Mapped, cancelled.Token);
        Assert.Equal(WeightResidence.Mapped, mapped.Residence);
    }
}
