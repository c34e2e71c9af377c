using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>A model whose weights exceed a device's memory is refused before the first upload, with both sizes.</summary>
public sealed class DeviceFitTests
{
    [Fact]
    public void A_model_larger_than_the_device_is_refused_before_any_weight_is_uploaded()
    {
        using var device = new SmallDevice(memoryBytes: 100_000);
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => LlamaModel.Load(TestData.Stories260K, device));
        long bytes = Directory.GetFiles(TestData.Stories260K, "*.safetensors").Sum(f => new FileInfo(f).Length);
        Assert.StartsWith($"{TestData.Stories260K}: the weights take ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($", more than the {ByteSize.Format(100_000)} of cuda device 'a small test device'", e.Message, StringComparison.Ordinal);
        Assert.True(bytes > 100_000, $"stories260K's files are {bytes} bytes");
        Assert.Equal(0, device.WeightsLoaded);
        // The weights alone are counted: a shorter context, the commands' general advice, would free none of them.
        Assert.Equal("a compact (pruned) checkpoint or --device cpu needs less", e.Remedy);
    }

    [Fact]
    public void A_load_that_converts_to_sparse_is_not_refused_up_front()
    {
        // The converted weights may be smaller than the files; only the allocations can tell.
        using var device = new SmallDevice(memoryBytes: 100_000);
        Assert.Null(Record.Exception(() => LlamaModel.Load(TestData.Stories260K, device, SparseLoadMode.Force).Dispose()));
    }

    [Fact]
    public void A_model_that_fits_loads()
    {
        using var device = new SmallDevice(memoryBytes: 64L << 20);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        Assert.True(device.WeightsLoaded > 0);
    }

    [Fact]
    public unsafe void The_cpu_is_not_asked_its_memory_is_the_hosts()
    {
        using var cpu = new CpuBackend(1);
        // A view's bytes are never read here: only its size counts.
        DeviceFit.Require(cpu, [new TensorView("w", DType.F32, [1L << 40], null, 4L << 40)], "a huge checkpoint");
        using var device = new SmallDevice(memoryBytes: 1L << 40);
        Assert.Throws<DeviceOutOfMemoryException>(() => DeviceFit.Require(device, [new TensorView("w", DType.F32, [1L << 40], null, 4L << 40)], "a huge checkpoint"));
    }

    /// <summary>The CPU backend presenting itself as a CUDA device of <paramref name="memoryBytes"/>, counting weight uploads.</summary>
    private sealed class SmallDevice(long memoryBytes) : CpuBackend(1), IBackend
    {
        public int WeightsLoaded { get; private set; }

        BackendInfo IBackend.Info => new("cuda", "a small test device", memoryBytes, 1);

        DeviceWeight IBackend.LoadWeight(TensorView view)
        {
            WeightsLoaded++;
            return LoadWeight(view);
        }
    }
}
