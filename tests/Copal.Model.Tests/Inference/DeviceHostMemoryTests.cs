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
    // A copy of stories260K under a name of its own, so that a mapping of it in /proc/self/maps is this test's alone.
    private readonly string _model = Directory.CreateTempSubdirectory("copal-host-memory-").FullName;

    public DeviceHostMemoryTests()
    {
        foreach (string name in new[] { "config.json", "model.safetensors", "tokenizer.json" })
        {
            File.Copy(Path.Combine(TestData.Stories260K, name), Path.Combine(_model, name));
        }
    }

    public void Dispose()
    {
        Directory.Delete(_model, recursive: true);
        GC.SuppressFinalize(this);
    }

    [DeviceFact("ilgpu-cpu")]
    public void A_device_model_holds_no_mapping_or_read_copy_of_its_files_and_runs_as_the_cpu_does()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        float[] expected;
        using (var cpu = new CpuBackend(1))
        using (LlamaModel reference = LlamaModel.Load(_model, cpu))
        using (RunState referenceState = reference.CreateState(4))
        {
            reference.Forward(referenceState, [1, 200, 300, 400], 0, LogitsMode.Last);
            expected = reference.ReadLogits(referenceState);
            // The CPU computes on its mapping: what the check below would see of a mapping kept.
            Assert.Contains(File.ReadLines("/proc/self/maps"), MapsModelFile);
        }
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        Assert.True(device.CopiesWeightsAtLoad);
        foreach (WeightResidence residence in Enum.GetValues<WeightResidence>())
        {
            using LlamaModel model = LlamaModel.Load(_model, device, SparseLoadMode.Off, residence: residence);
            Assert.DoesNotContain(File.ReadLines("/proc/self/maps"), MapsModelFile);
            // Mapped for the upload: a copy read in first would have been the model's size again in host memory.
            Assert.Equal(WeightResidence.Mapped, model.WeightResidence);
            using RunState state = model.CreateState(4);
            model.Forward(state, [1, 200, 300, 400], 0, LogitsMode.Last);
            Tolerances.AssertClose(model.ReadLogits(state), expected, relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"logits, {residence}");
        }
    }

    private bool MapsModelFile(string line) => line.EndsWith(Path.Combine(_model, "model.safetensors"), StringComparison.Ordinal);
}
