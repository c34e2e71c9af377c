using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Cuda;
using Copal.Tensors.Backends.OpenCL;

namespace Copal.Tensors.Tests.Backends;

public class BackendFactoryTests
{
    [Theory]
    [InlineData("gpu")]
    [InlineData("cpu:1")]
    [InlineData("opencl:")]
    [InlineData("cuda:-1")]
    [InlineData("opencl:x")]
    public void An_unknown_spec_names_the_accepted_forms(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => BackendFactory.Create(spec));
        Assert.Contains(spec, e.Message, StringComparison.Ordinal);
        Assert.Contains(BackendFactory.SpecForms, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cpu_spec_gives_the_cpu_backend()
    {
        using IBackend backend = BackendFactory.Create(" CPU ");
        Assert.IsType<CpuBackend>(backend);
    }

    [Fact]
    public void Auto_prefers_cuda_then_an_opencl_gpu_and_never_an_opencl_cpu_device()
    {
        bool cuda = CudaDevice.Probe().Devices.Count > 0;
        bool openCLGpu = DeviceProbe.SkipReason(DeviceKind.OpenCL) is null && OpenCLDevice.Enumerate().Any(d => d.IsGpu);
        var log = new List<string>();
        using IBackend backend = BackendFactory.Create("auto", log.Add);
        if (!cuda && !openCLGpu)
        {
            Assert.Equal("cpu", backend.Info.Kind);   // e.g. PoCL's CPU device alone
        }
        else if (backend.Info.Kind == "cpu")
        {
            Assert.NotEmpty(log);   // a device was present: auto must have said why it was skipped
        }
        else
        {
            Assert.Equal(cuda ? "cuda" : "opencl", backend.Info.Kind);
        }
    }

    [OpenCLFact]
    public void Discover_lists_every_kind_with_compiled_kernels_or_the_reason()
    {
        IReadOnlyList<DeviceDescription> rows = BackendFactory.Discover();
        Assert.Contains(rows, r => r.Kind == "cpu" && r.KernelsCompiled);
        DeviceDescription openCL = Assert.Single(rows, r => r.Spec == "opencl:0");
        Assert.True(openCL.KernelsCompiled, openCL.Error);
        Assert.False(string.IsNullOrEmpty(openCL.Name));
        Assert.True(openCL.ComputeUnits > 0 && openCL.MemoryBytes > 0);
        Assert.Contains(rows, r => r.Kind == "cuda");
        Assert.All(rows.Where(r => r.Index < 0), r => Assert.False(string.IsNullOrEmpty(r.Error)));
    }
}
