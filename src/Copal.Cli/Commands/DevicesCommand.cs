using System.CommandLine;
using System.Globalization;
using Copal.Cli.Infrastructure;
using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Cli.Commands;

/// <summary><c>copal devices</c>: every compute device found, and whether Copal's kernels compiled on it.</summary>
internal static class DevicesCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var command = new Command("devices", "List CUDA and OpenCL devices (with ILGPU's reason for any it refuses), ILGPU's CPU accelerator and the CPU, and whether the kernels compile") { json };
        command.SetBody((p, _) =>
        {
            IReadOnlyList<DeviceDescription> devices = BackendFactory.Discover();
            if (p.GetValue(json))
            {
                Out.Json(devices.Select(DeviceJson.Of).ToList());
                return CliErrors.Ok;
            }
            foreach (DeviceDescription d in devices)
            {
                if (d.Index < 0)
                {
                    Out.Line($"{d.Kind,-7} (none)  {d.Error}");
                    continue;
                }
                string status = d.KernelsCompiled
                    ? d.CompileSeconds is double seconds ? string.Create(CultureInfo.InvariantCulture, $"kernels ok (compiled in {seconds:F1} s)") : "kernels ok"
                    : $"unusable: {d.Error}";
                string rate = d.NominalMemoryBytesPerSecond is double r ? string.Create(CultureInfo.InvariantCulture, $" ({r / 1e9:F0} GB/s nominal)") : "";
                Out.Line($"{d.Spec,-9} {d.Name} [{d.Type}], {ByteSize.Format(d.MemoryBytes)}{rate}, {d.ComputeUnits} compute units, driver {d.DriverVersion}; {status}");
            }
            return CliErrors.Ok;
        });
        return command;
    }
}

/// <summary>
/// A device row of <c>devices --json</c>. A row that only says why a kind of device is absent has no device, so its
/// index, name, type, memory, compute units and driver are null (as every value that does not exist is), not −1, 0 or "".
/// </summary>
internal sealed record DeviceJson(
    string Kind, int? Index, string? Name, string? Type, long? MemoryBytes, int? ComputeUnits, string? DriverVersion,
    bool KernelsCompiled, string? Error, double? CompileSeconds, double? NominalMemoryBytesPerSecond, string? Spec)
{
    public static DeviceJson Of(DeviceDescription d) => d.Index < 0
        ? new(d.Kind, null, null, null, null, null, null, false, d.Error, null, null, null)
        : new(d.Kind, d.Index, d.Name, d.Type, d.MemoryBytes, d.ComputeUnits, d.DriverVersion, d.KernelsCompiled, d.Error, d.CompileSeconds,
            d.NominalMemoryBytesPerSecond, d.Spec);
}
