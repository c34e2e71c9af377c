using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A model whose heads are wider than a device's attention kernel takes (256 on the ILGPU devices) is refused when it
/// loads, naming config.json and both widths, before a weight is uploaded; the CPU runs it.
/// </summary>
public sealed class DeviceAttentionFitTests : IDisposable
{
    private readonly TempDir _temp = new("copal-head-dim-");

    public void Dispose()
    {
        _temp.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>test-tiny with two heads of <paramref name="headDim"/> and a small vocabulary.</summary>
    private string Write(int headDim)
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { NumHeads = 2, NumKvHeads = 1, HeadDim = headDim, VocabSize = 300 };
        string dir = _temp.File($"head-dim-{headDim}");
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 5, tokenizerDirectory: null);
        return dir;
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_refuses_heads_wider_than_its_attention_kernel_at_load_and_the_cpu_runs_them()
    {
        string dir = Write(264);
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        var e = Assert.Throws<ModelConfigException>(() => LlamaModel.Load(dir, device).Dispose());
        Assert.Equal(
            $"{Path.Combine(dir, "config.json")}: head dimension 264 (head_dim, or hidden_size ÷ num_attention_heads) is more than the 256 the attention kernel of ilgpu-cpu device '{device.Info.DeviceName}' takes; --device cpu runs it",
            e.Message);
        using var cpu = new CpuBackend(1);
        using LlamaModel onCpu = LlamaModel.Load(dir, cpu);
        using RunState state = onCpu.CreateState(3);
        onCpu.Forward(state, [1, 2, 3], 0, LogitsMode.Last);
        Assert.All(onCpu.ReadLogits(state), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void A_device_refuses_before_any_weight_is_uploaded_and_loads_heads_up_to_its_limit()
    {
        // stories260K's heads are 8 wide.
        using var narrow = new NarrowDevice(maxHeadDim: 4);
        Assert.Throws<ModelConfigException>(() => LlamaModel.Load(TestData.Stories260K, narrow).Dispose());
        Assert.Equal(0, narrow.WeightsLoaded);
        using var exact = new NarrowDevice(maxHeadDim: 8);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, exact);
        Assert.True(exact.WeightsLoaded > 0);
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_loads_heads_of_the_kernels_widest()
    {
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        using LlamaModel model = LlamaModel.Load(Write(256), device);
        using RunState state = model.CreateState(3);
        model.Forward(state, [1, 2, 3], 0, LogitsMode.Last);
        Assert.All(model.ReadLogits(state), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>The CPU backend presenting itself as a CUDA device whose attention takes heads up to <paramref name="maxHeadDim"/>, counting weight uploads.</summary>
    private sealed class NarrowDevice(int maxHeadDim) : CpuBackend(1), IBackend
    {
        public int WeightsLoaded { get; private set; }

        BackendInfo IBackend.Info => new("cuda", "a narrow test device", 64L << 20, 1, MaxAttentionHeadDim: maxHeadDim);

        DeviceWeight IBackend.LoadWeight(TensorView view)
        {
            WeightsLoaded++;
            return LoadWeight(view);
        }
    }
}
