using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>One CUDA or OpenCL device as ILGPU lists it, with why ILGPU would refuse it (null when it is usable).</summary>
internal sealed record IlgpuDevice(string Kind, int Index, Device Device, string? Refusal)
{
    public bool IsGpu => Device is CudaDevice || (Device is CLDevice cl && cl.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU);

    public string TypeName => Device switch
    {
        CudaDevice => "GPU",
        CLDevice cl when cl.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU => "GPU",
        CLDevice cl when cl.DeviceType == CLDeviceType.CL_DEVICE_TYPE_CPU => "CPU",
        _ => "accelerator",
    };

    public string DriverVersion => Device switch
    {
        CudaDevice cuda => cuda.DriverVersion.ToString(),
        CLDevice cl => $"{cl.PlatformName}, {cl.DeviceVersion}, OpenCL C {cl.CLStdVersion}",
        _ => "",
    };

    /// <summary>The memory's specified rate in bytes/s where the driver reports clock and bus width (CUDA); else null.</summary>
    public double? NominalMemoryBytesPerSecond => NominalMemoryRate(Device);

    /// <inheritdoc cref="NominalMemoryBytesPerSecond"/>
    public static double? NominalMemoryRate(Device device) => device is CudaDevice cuda
        ? DoubleDataRate(cuda.MemoryClockRate, cuda.MemoryBusWidth)
        : null;

    /// <summary>
    /// The memory the device's buffers come from: ILGPU's CPU accelerator reports long.MaxValue, but it allocates in
    /// this process, so it has what the process may use (as the <c>cpu</c> backend reports); a GPU has its own.
    /// </summary>
    public static long MemoryBytes(Device device) =>
        device is CPUDevice ? HostMemory.LimitBytes : device.MemorySize;

    /// <summary>
    /// Bytes/s of a memory that moves a bus width of bits twice per clock, from the clock (MHz) and bus width (bits)
    /// CUDA reports; null when either is unknown (0). NVIDIA's figures follow this rule (H100 SXM: 2,619 MHz over
    /// 5,120 bits, 3.35 TB/s).
    /// </summary>
    public static double? DoubleDataRate(int memoryClockMHz, int busWidthBits) =>
        memoryClockMHz > 0 && busWidthBits > 0 ? memoryClockMHz * 1e6 * 2 * busWidthBits / 8 : null;
}

/// <summary>
/// Finds devices through ILGPU and makes contexts for them. Every device of a kind is listed, those ILGPU cannot
/// use included, so `copal devices` can say why one is refused and indices stay stable.
/// </summary>
internal static class IlgpuDevices
{
    /// <summary>
    /// The CPU accelerator users get with <c>--device ilgpu-cpu</c>: one-thread groups over as many "multiprocessors"
    /// as there are cores (see <see cref="LaunchPlan"/> for why).
    /// </summary>
    private static CPUDevice CpuDevice(int threadsPerGroup, int threadsPerWarp) => threadsPerGroup == 1
        ? new CPUDevice(numThreadsPerWarp: 2, numWarpsPerMultiprocessor: 1, numMultiprocessors: Environment.ProcessorCount)
        : new CPUDevice(numThreadsPerWarp: threadsPerWarp, numWarpsPerMultiprocessor: Math.Max(1, threadsPerGroup / threadsPerWarp), numMultiprocessors: 1);

    /// <summary>A context holding every device of <paramref name="kind"/> ("cuda" or "opencl").</summary>
    public static Context CreateContext(string kind)
    {
        NativeLibraries.Install();
        return Context.Create(b =>
        {
            if (kind == "cuda")
            {
                b.Cuda(_ => true);
            }
            else
            {
                b.OpenCL(_ => true);
            }
            // Profiling markers time the queue for `copal bench` (IDeviceTimer); on OpenCL this turns on the
            // queue's event profiling, on CUDA it only allows the markers.
            b.EnableAlgorithms().Profiling();
        });
    }

    /// <summary>The devices of <paramref name="kind"/> in <paramref name="context"/>, in index order.</summary>
    public static IReadOnlyList<IlgpuDevice> List(Context context, string kind)
    {
        var devices = new List<IlgpuDevice>();
        if (kind == "cuda")
        {
            foreach (CudaDevice d in context.GetCudaDevices())
            {
                devices.Add(new IlgpuDevice(kind, devices.Count, d, Refusal(d)));
            }
        }
        else
        {
            foreach (CLDevice d in context.GetCLDevices())
            {
                devices.Add(new IlgpuDevice(kind, devices.Count, d, Refusal(d)));
            }
        }
        return devices;
    }

    /// <summary>Why no device of <paramref name="kind"/> was found: no driver library, or a driver without devices.</summary>
    public static string Absence(string kind) => kind == "cuda"
        ? NativeLibraries.Present("cuda") ? "the CUDA driver reports no devices" : "no CUDA driver (libcuda.so.1 not found)"
        : NativeLibraries.Present("OpenCL") ? "no OpenCL platform has a device" : "no OpenCL ICD loader (libOpenCL.so.1 not found)";

    /// <summary>A backend on device <paramref name="index"/> of <paramref name="kind"/>; throws when it is absent or refused.</summary>
    public static IlgpuBackend Open(string kind, int index)
    {
        Context context = CreateContext(kind);
        try
        {
            IReadOnlyList<IlgpuDevice> devices = List(context, kind);
            if (index >= devices.Count)
            {
                throw new DeviceUnavailableException(devices.Count == 0
                    ? $"--device {kind}:{index}: {Absence(kind)}"
                    : $"--device {kind}:{index}: no such device; found {Describe(devices)}");
            }
            IlgpuDevice device = devices[index];
            if (device.Refusal is not null)
            {
                throw new DeviceUnavailableException($"--device {kind}:{index} ({device.Device.Name}) cannot run ILGPU kernels: {device.Refusal}");
            }
            return Created($"{kind}:{index}", device.Device.Name, () => new IlgpuBackend(context, device.Device, kind));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="create"/>'s backend for the device <paramref name="spec"/> (<paramref name="name"/>), which
    /// ILGPU lists and accepts. Its driver may still refuse it: a GPU in exclusive-process mode that another program
    /// holds, one whose memory is full, a JIT that fails. That is a <see cref="DeviceUnavailableException"/> naming the
    /// device and the driver's reason, which <c>--device auto</c> skips and <c>copal devices</c> lists, not a crash
    /// reported as a bug in copal.
    /// </summary>
    internal static IlgpuBackend Created(string spec, string name, Func<IlgpuBackend> create)
    {
        try
        {
            return create();
        }
        catch (Exception e) when (IsRefusal(e))
        {
            throw new DeviceUnavailableException($"--device {spec} ({name}) cannot run ILGPU kernels: {e.Message}", e);
        }
    }

    // What the driver (an AcceleratorException: CUDA's or OpenCL's error code) or ILGPU's compiler throws for a
    // device it cannot serve.
    private static bool IsRefusal(Exception e) => e is AcceleratorException or CapabilityNotSupportedException or InternalCompilerException
        or ILGPU.Backends.InvalidCodeGenerationException or ILGPU.Backends.NotSupportedIntrinsicException;

    /// <summary>
    /// ILGPU's CPU accelerator, with <paramref name="threadsPerGroup"/> threads per group (1 for users; tests also use
    /// more) in warps of <paramref name="threadsPerWarp"/> lanes (tests use 4, and a GPU's 32).
    /// </summary>
    public static IlgpuBackend OpenCpu(int threadsPerGroup = 1, int threadsPerWarp = 4)
    {
        NativeLibraries.Install();
        CPUDevice device = CpuDevice(threadsPerGroup, threadsPerWarp);
        Context context = Context.Create(b => b.CPU(device).EnableAlgorithms().Profiling());
        return new IlgpuBackend(context, context.Devices.First(d => d is CPUDevice), "ilgpu-cpu", threadsPerGroup);
    }

    public static string Describe(IReadOnlyList<IlgpuDevice> devices) =>
        string.Join("; ", devices.Select(d => $"{d.Kind}:{d.Index} {d.Device.Name}" + (d.Refusal is null ? "" : $" (refused: {d.Refusal})")));

    private static string? Refusal(CudaDevice device)
    {
        if (!device.Architecture.HasValue)
        {
            return "ILGPU 1.5.3 does not know this GPU's architecture";
        }
        if (!device.InstructionSet.HasValue || !PTXCodeGenerator.SupportedInstructionSets.Contains(device.InstructionSet.Value))
        {
            return $"ILGPU 1.5.3 cannot target the PTX ISA of driver {device.DriverVersion} ({device.InstructionSet?.ToString() ?? "unknown"})";
        }
        return null;
    }

    private static string? Refusal(CLDevice device)
    {
        if (device.CLStdVersion < CLBackend.MinimumVersion)
        {
            return $"OpenCL C {device.CLStdVersion}; ILGPU needs OpenCL C {CLBackend.MinimumVersion} or newer";
        }
        if (!device.Capabilities.GenericAddressSpace)
        {
            return "no generic address space (an OpenCL C 2.0 feature ILGPU's OpenCL backend needs)";
        }
        return null;
    }
}
