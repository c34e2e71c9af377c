using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

public class BackendFactoryTests
{
    [Theory]
    [InlineData("gpu")]
    [InlineData("cpu:1")]
    [InlineData("opencl:")]
    [InlineData("cuda:-1")]
    [InlineData("opencl:x")]
    [InlineData("ilgpu-cpu:0")]
    public void An_unknown_spec_names_the_accepted_forms(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => BackendFactory.Create(spec));
        Assert.Contains(spec, e.Message, StringComparison.Ordinal);
        Assert.Contains(BackendFactory.SpecForms, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A device ILGPU accepts may still be refused by its driver when the backend is made (CUDA in exclusive-process
    /// mode held by another program, its memory full; an OpenCL build failure; ILGPU's compiler). That escaped as the
    /// driver's own exception, which `--device auto` and `copal devices` did not catch: a crash reported as a bug,
    /// instead of a device skipped or listed with its reason. A failure of ours is not taken for a refusal.
    /// </summary>
    [Fact]
    public void A_device_its_driver_refuses_when_the_backend_is_made_is_unavailable_naming_the_device_and_the_reason()
    {
        Exception[] refusals =
        [
            new ILGPU.Runtime.Cuda.CudaException("CUDA_ERROR_OUT_OF_MEMORY"), // what the driver says, with the error code's own constructor where libcuda is loaded
            new ILGPU.Runtime.OpenCL.CLException(ILGPU.Runtime.OpenCL.CLError.CL_BUILD_PROGRAM_FAILURE),
            new ILGPU.InternalCompilerException("unsupported"),
        ];
        foreach (Exception refusal in refusals)
        {
            var e = Assert.Throws<DeviceUnavailableException>(() => IlgpuDevices.Created("cuda:1", "GPU X", () => throw refusal));
            Assert.Equal($"--device cuda:1 (GPU X) cannot run ILGPU kernels: {refusal.Message}", e.Message);
            Assert.Same(refusal, e.InnerException);
        }
        Assert.Throws<NullReferenceException>(() => IlgpuDevices.Created("cuda:1", "GPU X", () => throw new NullReferenceException()));
    }

    [Fact]
    public void FindUsable_refuses_a_kind_it_does_not_know_rather_than_report_devices_under_it()
    {
        var e = Assert.Throws<ArgumentException>(() => BackendFactory.FindUsable("bogus", out _));
        Assert.Equal("kind", e.ParamName);
        Assert.Equal("cpu", BackendFactory.FindUsable("cpu", out _));
    }

    /// <summary>The two kinds that are always present are found as themselves, with no reason, without asking ILGPU.</summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void FindUsable_finds_the_kinds_that_are_always_present(string kind)
    {
        Assert.Equal(kind, BackendFactory.FindUsable(kind, out string? reason));
        Assert.Null(reason);
    }

    [Fact]
    public void Cpu_spec_gives_the_cpu_backend()
    {
        using IBackend backend = BackendFactory.Create(" CPU ");
        Assert.IsType<CpuBackend>(backend);
    }

    [Fact]
    public void Ilgpu_cpu_spec_gives_the_ilgpu_cpu_accelerator()
    {
        using IBackend backend = BackendFactory.Create("ilgpu-cpu");
        IlgpuBackend ilgpu = Assert.IsType<IlgpuBackend>(backend);
        Assert.Equal("ilgpu-cpu", backend.Info.Kind);
        Assert.Equal(1, ilgpu.Plan.RowGroup);
        Assert.Equal(1, ilgpu.Plan.AttentionSplits(heads: 1, keys: 100_000));
        // ILGPU reports long.MaxValue for its CPU accelerator; its buffers are this process's memory, as cpu's are.
        using var cpu = new CpuBackend();
        Assert.Equal(cpu.Info.MemoryBytes, backend.Info.MemoryBytes);
    }

    [Fact]
    public void Auto_prefers_cuda_then_an_opencl_gpu_else_the_cpu()
    {
        // The expected kind comes from the device list, so each branch of the preference is checked where it applies:
        // CUDA first, else an OpenCL GPU that compiled the kernels, else the CPU (never an OpenCL CPU device such as
        // PoCL's, nor ilgpu-cpu).
        IReadOnlyList<DeviceDescription> rows = BackendFactory.Discover();
        string expected = rows.Any(r => r.Kind == "cuda" && r.Type == "GPU" && r.KernelsCompiled) ? "cuda"
            : rows.Any(r => r.Kind == "opencl" && r.Type == "GPU" && r.KernelsCompiled) ? "opencl"
            : "cpu";
        var log = new List<string>();
        using IBackend backend = BackendFactory.Create("auto", log.Add);
        Assert.Equal(expected, backend.Info.Kind);
    }

    [Theory]
    [InlineData("cuda:7")]
    [InlineData("opencl:9")]
    public void A_device_that_does_not_exist_says_which_devices_do(string spec)
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => BackendFactory.Create(spec));
        Assert.Contains(spec, e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Contains("found", StringComparison.Ordinal) || e.Message.Contains("no ", StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void Discover_lists_every_kind_with_compiled_kernels_or_the_reason()
    {
        IReadOnlyList<DeviceDescription> rows = BackendFactory.Discover();
        Assert.Contains(rows, r => r.Kind == "cpu" && r.KernelsCompiled);
        DeviceDescription ilgpuCpu = Assert.Single(rows, r => r.Kind == "ilgpu-cpu");
        Assert.True(ilgpuCpu.KernelsCompiled, ilgpuCpu.Error);
        Assert.Equal("ilgpu-cpu", ilgpuCpu.Spec);
        Assert.Equal(Assert.Single(rows, r => r.Kind == "cpu").MemoryBytes, ilgpuCpu.MemoryBytes);
        // Compiling is what a run on the device pays at its start; only a device that compiled has a time.
        Assert.True(ilgpuCpu.CompileSeconds > 0, $"ilgpu-cpu compile seconds {ilgpuCpu.CompileSeconds}");
        Assert.All(rows, r => Assert.Equal(r.Kind != "cpu" && r.KernelsCompiled, r.CompileSeconds is not null));
        Assert.Contains(rows, r => r.Kind == "cuda");
        Assert.Contains(rows, r => r.Kind == "opencl");
        // A row is usable, or says why not: no driver, no platform, or ILGPU's reason for refusing the device.
        Assert.All(rows, r => Assert.True(r.KernelsCompiled || !string.IsNullOrEmpty(r.Error), $"{r.Spec}: neither compiled nor explained"));
    }

    /// <summary>
    /// A row for a kind with no device (no driver, no platform) selects nothing: its spec is null, not "cuda:-1",
    /// which Create refuses as a malformed spec. Every other row's spec is one Create takes: it opens the device, or
    /// refuses it with the device's own reason.
    /// </summary>
    [Fact]
    public void Every_spec_Discover_lists_is_null_or_one_Create_takes()
    {
        foreach (DeviceDescription r in BackendFactory.Discover())
        {
            if (r.Index < 0)
            {
                Assert.Null(r.Spec);
                Assert.False(r.KernelsCompiled);
                continue;
            }
            Assert.NotNull(r.Spec);
            if (!r.KernelsCompiled)
            {
                // Refused for the device, never for the form of the spec.
                var e = Assert.Throws<DeviceUnavailableException>(() => BackendFactory.Create(r.Spec));
                Assert.Contains(r.Spec, e.Message, StringComparison.Ordinal);
            }
        }
    }

    [PoclFact]
    public void An_opencl_device_without_a_generic_address_space_is_listed_with_ilgpus_reason()
    {
        // PoCL (which CI installs) implements OpenCL C 1.2/3.0 without the generic address space ILGPU needs, so its
        // device must be listed, refused with the reason.
        IReadOnlyList<DeviceDescription> refused = BackendFactory.Discover()
            .Where(r => r.Kind == "opencl" && r.Index >= 0 && !r.KernelsCompiled).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Matches("generic address space|OpenCL C", r.Error!));
        foreach (DeviceDescription r in refused)
        {
            var e = Assert.Throws<DeviceUnavailableException>(() => BackendFactory.Create(r.Spec!));
            Assert.Contains(r.Spec!, e.Message, StringComparison.Ordinal);
        }
    }
}

/// <summary>
/// A fact that needs PoCL's OpenCL driver registered (<c>/etc/OpenCL/vendors/pocl.icd</c>, which CI installs): skipped,
/// with the reason, without it.
/// </summary>
public sealed class PoclFactAttribute : FactAttribute
{
    public const string IcdFile = "/etc/OpenCL/vendors/pocl.icd";

    public PoclFactAttribute()
    {
        if (!File.Exists(IcdFile))
        {
            Skip = $"PoCL's OpenCL driver is not registered ({IcdFile} is missing); Debian's pocl-opencl-icd package has it";
        }
    }
}
