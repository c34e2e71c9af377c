using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Cuda;
using Copal.Tensors.Backends.OpenCL;

namespace Copal.Tensors.Backends;

/// <summary>Creates backends from a user's spec and lists the devices present.</summary>
public static class BackendFactory
{
    /// <summary>The accepted spec forms, for messages.</summary>
    public const string SpecForms = "auto, cpu, opencl[:N] or cuda[:N]";

    /// <summary>
    /// A backend for <paramref name="spec"/>: <c>cpu</c>; <c>opencl[:N]</c> (N counts the devices of all platforms,
    /// default 0); <c>cuda[:N]</c>; or <c>auto</c> = CUDA device 0 if usable, else the first usable OpenCL GPU, else
    /// the CPU (an OpenCL CPU device such as PoCL's is never chosen by auto). Device backends come wrapped in
    /// <see cref="CpuFallbackBackend"/> when they lack an op.
    /// </summary>
    /// <exception cref="ArgumentException">The spec is not one of the accepted forms.</exception>
    /// <exception cref="OpenCLException">The OpenCL device does not exist or cannot be used; lists the devices found.</exception>
    /// <exception cref="CudaException">The CUDA device does not exist or cannot be used; lists the devices found.</exception>
    public static IBackend Create(string spec, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string trimmed = spec.Trim().ToLowerInvariant();
        (string kind, int index) = Parse(trimmed, spec);
        IBackend backend = kind switch
        {
            "auto" => Auto(log),
            "cpu" => new CpuBackend(),
            "opencl" => WithFallback(new OpenCLBackend(index, log)),
            "cuda" => WithFallback(new CudaBackend(index, log)),
            _ => throw new InvalidOperationException(kind),
        };
        backend.Log = log;
        return backend;
    }

    /// <summary>
    /// Every CUDA and OpenCL device and the CPU, each with whether Copal's kernels compiled on it (compiling them
    /// once; OpenCL binaries are then cached on disk). Kinds that are absent appear as one row with the reason.
    /// </summary>
    public static IReadOnlyList<DeviceDescription> Discover()
    {
        var rows = new List<DeviceDescription>();

        (IReadOnlyList<CudaDevice> cuda, string? cudaError) = CudaDevice.Probe();
        if (cuda.Count == 0)
        {
            rows.Add(new DeviceDescription("cuda", -1, "", "", 0, 0, "", false, cudaError ?? "no CUDA devices"));
        }
        foreach (CudaDevice d in cuda)
        {
            string? error = TryCompile(() => new CudaBackend(d.Index));
            rows.Add(new DeviceDescription("cuda", d.Index, d.Name, "GPU", d.MemoryBytes, d.Multiprocessors, d.DriverVersionText,
                error is null, error));
        }

        IReadOnlyList<OpenCLDevice> openCL;
        string? openCLError = null;
        try
        {
            openCL = OpenCLDevice.Enumerate();
        }
        catch (OpenCLException e)
        {
            openCL = [];
            openCLError = e.Message;
        }
        if (openCL.Count == 0)
        {
            rows.Add(new DeviceDescription("opencl", -1, "", "", 0, 0, "", false,
                openCLError ?? OpenCL.Interop.OpenCLApi.LoadError ?? "no OpenCL platform has a device"));
        }
        foreach (OpenCLDevice d in openCL)
        {
            string? error = TryCompile(() => new OpenCLBackend(d.Index));
            rows.Add(new DeviceDescription("opencl", d.Index, d.Name, d.TypeName, d.MemoryBytes, d.ComputeUnits, d.DriverVersion,
                error is null, error));
        }

        using var cpu = new CpuBackend();
        rows.Add(new DeviceDescription("cpu", 0, cpu.Info.DeviceName, "CPU", cpu.Info.MemoryBytes, cpu.Info.ComputeUnits,
            Environment.Version.ToString(), true, null));
        return rows;
    }

    private static (string Kind, int Index) Parse(string trimmed, string spec)
    {
        int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? trimmed : trimmed[..colon];
        int index = 0;
        bool indexed = colon >= 0;
        bool valid = kind is "auto" or "cpu" or "opencl" or "cuda"
            && (!indexed || (kind is "opencl" or "cuda" && int.TryParse(trimmed[(colon + 1)..], out index) && index >= 0));
        if (!valid)
        {
            throw new ArgumentException($"unknown backend '{spec}'; expected {SpecForms}", nameof(spec));
        }
        return (kind, index);
    }

    private static IBackend Auto(Action<string>? log)
    {
        (IReadOnlyList<CudaDevice> cuda, _) = CudaDevice.Probe();
        if (cuda.Count > 0)
        {
            IBackend? backend = TryCreate(() => new CudaBackend(0, log), "cuda:0", log);
            if (backend is not null)
            {
                return backend;
            }
        }
        IReadOnlyList<OpenCLDevice> openCL;
        try
        {
            openCL = OpenCLDevice.Enumerate();
        }
        catch (OpenCLException e)
        {
            log?.Invoke($"auto: OpenCL enumeration failed ({e.Message})");
            openCL = [];
        }
        foreach (OpenCLDevice d in openCL.Where(d => d.IsGpu))
        {
            IBackend? backend = TryCreate(() => new OpenCLBackend(d.Index, log), $"opencl:{d.Index}", log);
            if (backend is not null)
            {
                return backend;
            }
        }
        return new CpuBackend();
    }

    private static IBackend? TryCreate(Func<GpuBackend> create, string spec, Action<string>? log)
    {
        try
        {
            return WithFallback(create());
        }
        catch (Exception e) when (e is OpenCLException or CudaException)
        {
            log?.Invoke($"auto: skipping {spec}: {e.Message}");
            return null;
        }
    }

    private static string? TryCompile(Func<GpuBackend> create)
    {
        try
        {
            create().Dispose();
            return null;
        }
        catch (Exception e) when (e is OpenCLException or CudaException)
        {
            return e.Message;
        }
    }

    private static IBackend WithFallback(GpuBackend backend) => CpuFallbackBackend.Wrap(backend, () => new CpuBackend());
}
