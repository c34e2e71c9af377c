using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>The device kinds a backend test class can need.</summary>
public enum DeviceKind
{
    OpenCL,
    Cuda,
}

/// <summary>Whether each device kind is usable here, and if not, the skip reason. Probed once per test run.</summary>
internal static class DeviceProbe
{
    private static readonly Lazy<string?> s_openCL = new(() => Reason("opencl"));
    private static readonly Lazy<string?> s_cuda = new(() => Reason("cuda"));

    /// <summary>Null when <paramref name="kind"/> is usable, else why the tests are skipped.</summary>
    public static string? SkipReason(DeviceKind kind) => kind switch
    {
        DeviceKind.OpenCL => s_openCL.Value,
        DeviceKind.Cuda => s_cuda.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Null also where the kind is required (<see cref="RequiredDevices"/>): the tests then run and fail.</summary>
    private static string? Reason(string kind) =>
        BackendFactory.FindUsable(kind, out string? reason) is null && !RequiredDevices.Includes(kind)
            ? $"no {kind} device ILGPU accepts: {reason}"
            : null;
}
