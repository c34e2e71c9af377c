using Copal.Tensors.Backends.Cuda;
using Copal.Tensors.Backends.OpenCL;
using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Tests.Backends;

/// <summary>The device kinds a backend test class can need.</summary>
public enum DeviceKind
{
    OpenCL,
    Cuda,
}

/// <summary>Whether each device kind is present here, and if not, the skip reason. Probed once per test run.</summary>
internal static class DeviceProbe
{
    private static readonly Lazy<string?> s_openCL = new(() =>
    {
        try
        {
            return OpenCLDevice.Enumerate().Count > 0 ? null : $"no OpenCL device ({OpenCLApi.LoadError ?? "no platform has a device"})";
        }
        catch (OpenCLException e)
        {
            return $"OpenCL enumeration failed: {e.Message}";
        }
    });

    private static readonly Lazy<string?> s_cuda = new(() =>
    {
        (IReadOnlyList<CudaDevice> devices, string? error) = CudaDevice.Probe();
        if (devices.Count == 0)
        {
            return $"no CUDA device ({error})";
        }
        return Copal.Tensors.Backends.Cuda.Interop.NvrtcApi.Instance is null
            ? $"CUDA device present but no NVRTC ({Copal.Tensors.Backends.Cuda.Interop.NvrtcApi.LoadError})"
            : null;
    });

    /// <summary>Null when <paramref name="kind"/> is usable, else why the tests are skipped.</summary>
    public static string? SkipReason(DeviceKind kind) => kind switch
    {
        DeviceKind.OpenCL => s_openCL.Value,
        DeviceKind.Cuda => s_cuda.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
