using Copal.Tensors.Backends;
using Xunit;

namespace Copal.Testing;

/// <summary>
/// A fact that runs only where a device of <see cref="DeviceFactAttribute(string)"/>'s kind ("opencl", "cuda") is
/// present and Copal's kernels compile on it; elsewhere it is reported as skipped with the reason, never as passed.
/// xunit 2 decides skips at discovery, so the probe runs then (once per test run).
/// </summary>
public sealed class DeviceFactAttribute : FactAttribute
{
    private static readonly Lazy<IReadOnlyList<DeviceDescription>> s_devices = new(BackendFactory.Discover);

    public DeviceFactAttribute(string kind)
    {
        Spec = SpecFor(kind, out string? skip);
        Skip = skip;
    }

    /// <summary>The --device spec of the first usable device of the kind.</summary>
    public string? Spec { get; }

    /// <summary>The spec of the first usable device of <paramref name="kind"/>, or null with the reason it is absent.</summary>
    public static string? SpecFor(string kind, out string? skipReason)
    {
        IEnumerable<DeviceDescription> ofKind = s_devices.Value.Where(d => d.Kind == kind);
        DeviceDescription? usable = ofKind.FirstOrDefault(d => d.Index >= 0 && d.KernelsCompiled);
        skipReason = usable is not null ? null
            : $"no usable {kind} device: {string.Join("; ", ofKind.Select(d => d.Error ?? d.Name))}";
        return usable?.Spec;
    }
}
