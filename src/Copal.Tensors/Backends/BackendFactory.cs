using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Backends;

/// <summary>Creates backends from a user's spec and lists the devices present.</summary>
public static class BackendFactory
{
    /// <summary>The accepted spec forms, for messages.</summary>
    public const string SpecForms = "auto, cpu, cuda[:N], opencl[:N] or ilgpu-cpu";

    /// <summary>
    /// A backend for <paramref name="spec"/>: <c>cpu</c> (the SIMD kernels); <c>cuda[:N]</c> and <c>opencl[:N]</c>
    /// (ILGPU accelerators, N counting that kind's devices, default 0); <c>ilgpu-cpu</c> (ILGPU's CPU accelerator, a
    /// slow device for debugging and testing the GPU kernels); or <c>auto</c> = the first usable CUDA device, else
    /// the first usable OpenCL GPU, else the CPU. ILGPU backends come wrapped in <see cref="CpuFallbackBackend"/>
    /// when they lack an op.
    /// </summary>
    /// <exception cref="ArgumentException">The spec is not one of the accepted forms.</exception>
    /// <exception cref="DeviceUnavailableException">The device does not exist or ILGPU refuses it; the message lists the devices found.</exception>
    public static IBackend Create(string spec, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        (string kind, int index) = Parse(spec.Trim().ToLowerInvariant(), spec);
        IBackend backend = kind switch
        {
            "auto" => Auto(log),
            "cpu" => new CpuBackend(),
            "ilgpu-cpu" => WithFallback(IlgpuDevices.OpenCpu()),
            _ => WithFallback(IlgpuDevices.Open(kind, index)),
        };
        backend.Log = log;
        return backend;
    }

    /// <summary>
    /// Every CUDA and OpenCL device ILGPU finds, ILGPU's CPU accelerator and the CPU, each with whether Copal's
    /// kernels compiled on it (compiling them once per device) or why ILGPU refuses it. A kind with no device at all
    /// appears as one row with the reason (no driver, no platform).
    /// </summary>
    public static IReadOnlyList<DeviceDescription> Discover()
    {
        var rows = new List<DeviceDescription>();
        foreach (string kind in (string[])["cuda", "opencl"])
        {
            using ILGPU.Context context = IlgpuDevices.CreateContext(kind);
            IReadOnlyList<IlgpuDevice> devices = IlgpuDevices.List(context, kind);
            if (devices.Count == 0)
            {
                rows.Add(new DeviceDescription(kind, -1, "", "", 0, 0, "", false, IlgpuDevices.Absence(kind)));
            }
            foreach (IlgpuDevice d in devices)
            {
                (string? error, double? seconds) = d.Refusal is null ? TryCompile(() => IlgpuDevices.Open(kind, d.Index)) : (d.Refusal, null);
                rows.Add(new DeviceDescription(kind, d.Index, d.Device.Name, d.TypeName, IlgpuDevice.MemoryBytes(d.Device), d.Device.NumMultiprocessors,
                    d.DriverVersion, error is null, error, seconds, d.NominalMemoryBytesPerSecond));
            }
        }
        (string? cpuError, double? cpuSeconds) = TryCompile(() => IlgpuDevices.OpenCpu());
        rows.Add(new DeviceDescription("ilgpu-cpu", 0, "ILGPU CPU accelerator (debugging and tests; slow)", "CPU", HostMemory.LimitBytes, Environment.ProcessorCount,
            typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(3) ?? "", cpuError is null, cpuError, cpuSeconds));
        using var cpu = new CpuBackend();
        rows.Add(new DeviceDescription("cpu", 0, cpu.Info.DeviceName, "CPU", cpu.Info.MemoryBytes, cpu.Info.ComputeUnits,
            Environment.Version.ToString(), true, null));
        return rows;
    }

    /// <summary>
    /// The spec of the first device of <paramref name="kind"/> ("cuda" or "opencl") that ILGPU accepts, without
    /// compiling anything; null with the reason when there is none. "ilgpu-cpu" and "cpu" are always present.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is none of cuda, opencl, ilgpu-cpu and cpu.</exception>
    public static string? FindUsable(string kind, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(kind);
        reason = null;
        if (kind is "cpu" or "ilgpu-cpu")
        {
            return kind;
        }
        if (kind is not ("cuda" or "opencl"))
        {
            throw new ArgumentException($"unknown device kind '{kind}'; expected cuda, opencl, ilgpu-cpu or cpu", nameof(kind));
        }
        using ILGPU.Context context = IlgpuDevices.CreateContext(kind);
        IReadOnlyList<IlgpuDevice> devices = IlgpuDevices.List(context, kind);
        IlgpuDevice? usable = devices.FirstOrDefault(d => d.Refusal is null);
        if (usable is not null)
        {
            return $"{kind}:{usable.Index}";
        }
        reason = devices.Count == 0 ? IlgpuDevices.Absence(kind) : IlgpuDevices.Describe(devices);
        return null;
    }

    private static (string Kind, int Index) Parse(string trimmed, string spec)
    {
        int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? trimmed : trimmed[..colon];
        int index = 0;
        bool indexed = colon >= 0;
        bool valid = kind is "auto" or "cpu" or "opencl" or "cuda" or "ilgpu-cpu"
            && (!indexed || (kind is "opencl" or "cuda" && int.TryParse(trimmed[(colon + 1)..], out index) && index >= 0));
        if (!valid)
        {
            throw new ArgumentException($"--device: unknown device '{spec}'; expected {SpecForms}", nameof(spec));
        }
        return (kind, index);
    }

    private static IBackend Auto(Action<string>? log)
    {
        foreach (string kind in (string[])["cuda", "opencl"])
        {
            List<IlgpuDevice> candidates;
            using (ILGPU.Context context = IlgpuDevices.CreateContext(kind))
            {
                candidates = IlgpuDevices.List(context, kind).Where(d => d.IsGpu).ToList();
            }
            foreach (IlgpuDevice d in candidates)
            {
                if (d.Refusal is not null)
                {
                    log?.Invoke($"auto: skipping {kind}:{d.Index} ({d.Device.Name}): {d.Refusal}");
                    continue;
                }
                try
                {
                    return WithFallback(IlgpuDevices.Open(kind, d.Index));
                }
                catch (DeviceUnavailableException e)
                {
                    log?.Invoke($"auto: skipping {kind}:{d.Index}: {e.Message}");
                }
            }
        }
        return new CpuBackend();
    }

    /// <summary>Creates a backend (compiling every kernel) and disposes it: null and the seconds it took, or the reason it failed.</summary>
    private static (string? Error, double? Seconds) TryCompile(Func<IlgpuBackend> create)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            create().Dispose();
            return (null, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        catch (DeviceUnavailableException e)
        {
            return (e.Message, null);
        }
    }

    private static IBackend WithFallback(IlgpuBackend backend) => CpuFallbackBackend.Wrap(backend, () => new CpuBackend());
}
