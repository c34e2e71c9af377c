using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A model loaded on a device that copies every weight into its own memory keeps no host copy of its checkpoint: the
/// files are mapped for the upload (never read in whole first, whatever the residence asked) and unmapped once it is
/// done, so a GPU server does not hold the model's size of host memory beside the device's copy.
/// </summary>
public sealed class DeviceHostMemoryTests : IDisposable
{
    private readonly PrivateModelCopy _model = new("copal-host-memory-");

    public void Dispose() => _model.Dispose();

    [DeviceFact("ilgpu-cpu")]
    public void A_device_model_holds_no_mapping_or_read_copy_of_its_files_and_runs_as_the_cpu_does()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        float[] expected;
        using (var cpu = new CpuBackend(1))
        using (LlamaModel reference = LlamaModel.Load(_model.Directory, cpu))
        using (RunState referenceState = reference.CreateState(4))
        {
            reference.Forward(referenceState, [1, 200, 300, 400], 0, LogitsMode.Last);
            expected = reference.ReadLogits(referenceState);
            // The CPU computes on its mapping: what the check below would see of a mapping kept.
            Assert.True(_model.IsMapped());
        }
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        Assert.True(device.CopiesWeightsAtLoad);
        foreach (WeightResidence residence in Enum.GetValues<WeightResidence>())
        {
            using LlamaModel model = LlamaModel.Load(_model.Directory, device, SparseLoadMode.Off, residence: residence);
            Assert.False(_model.IsMapped());
            // Mapped for the upload: a copy read in first would have been the model's size again in host memory.
            Assert.Equal(WeightResidence.Mapped, model.WeightResidence);
            using RunState state = model.CreateState(4);
            model.Forward(state, [1, 200, 300, 400], 0, LogitsMode.Last);
            Tolerances.AssertClose(model.ReadLogits(state), expected, relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"logits, {residence}");
        }
    }
}
