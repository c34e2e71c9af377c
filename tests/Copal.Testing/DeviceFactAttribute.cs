using Copal.Tensors.Backends;
using Xunit;

namespace Copal.Testing;

/// <summary>
/// A fact that runs only where a device of <see cref="DeviceFactAttribute(string)"/>'s kind ("cuda", "opencl",
/// "ilgpu-cpu") is present and ILGPU accepts it; elsewhere it is reported as skipped with the reason, never as
/// passed, unless <see cref="RequiredDevices"/> names the kind. xunit 2 decides skips at discovery, so the probe
/// runs then.
/// </summary>
public sealed class DeviceFactAttribute : FactAttribute
{
    public DeviceFactAttribute(string kind)
    {
        Spec = SpecFor(kind, out string? skip);
        Skip = skip;
    }

    /// <summary>The --device spec of the first usable device of the kind.</summary>
    public string? Spec { get; }

    /// <summary>
    /// The spec of the first usable device of <paramref name="kind"/>, or null with the reason it is absent. Where
    /// the device is required but absent, the spec is the bare kind and there is no skip reason: the test runs, and
    /// creating the backend fails with ILGPU's reason.
    /// </summary>
    public static string? SpecFor(string kind, out string? skipReason)
    {
        string? spec = BackendFactory.FindUsable(kind, out string? reason);
        if (spec is null && RequiredDevices.Includes(kind))
        {
            skipReason = null;
            return kind;
        }
        skipReason = spec is null ? $"no usable {kind} device: {reason}" : null;
        return spec;
    }
}
