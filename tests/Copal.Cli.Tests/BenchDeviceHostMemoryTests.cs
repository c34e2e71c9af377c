using Copal.Cli.Commands;
using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// bench times a device through a wrapper (BenchTimingBackend); the wrapper says, as the device does, that it copies
/// every weight at load, so a benched device model keeps no mapping of its checkpoint, as served ones do.
/// </summary>
public sealed class BenchDeviceHostMemoryTests : IDisposable
{
    private readonly PrivateModelCopy _model = new("copal-bench-host-memory-");

    public void Dispose() => _model.Dispose();

    [DeviceFact("ilgpu-cpu")]
    public void A_benched_device_model_holds_no_mapping_of_its_files()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        using var timed = new BenchTimingBackend(device, "lm_head.weight");
        Assert.Equal(device.CopiesWeightsAtLoad, ((IBackend)timed).CopiesWeightsAtLoad);
        // bench's default residence (auto) and --mmap on: both would have kept the mapping open.
        foreach (WeightResidence residence in new[] { WeightResidence.Auto, WeightResidence.Mapped })
        {
            using LlamaModel model = LlamaModel.Load(_model.Directory, timed, SparseLoadMode.Auto, residence: residence);
            Assert.False(_model.IsMapped());
        }
    }
}
