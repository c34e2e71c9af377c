namespace Copal.Tensors.Backends;

/// <summary>
/// One compute device as <see cref="BackendFactory.Discover"/> found it. A row with <see cref="Index"/> −1 only
/// reports why a kind of device is unavailable (no driver, no platform), in <see cref="Error"/>.
/// </summary>
/// <param name="Kind">"cpu", "ilgpu-cpu", "opencl" or "cuda": the spec prefix that selects it.</param>
/// <param name="Index">N in "kind:N"; −1 for a row that only carries an error.</param>
/// <param name="Name">The device's name.</param>
/// <param name="Type">"CPU", "GPU" or "accelerator".</param>
/// <param name="MemoryBytes">Device memory.</param>
/// <param name="ComputeUnits">Compute units (OpenCL), multiprocessors (CUDA) or threads (CPU).</param>
/// <param name="DriverVersion">The driver's version string.</param>
/// <param name="KernelsCompiled">True when Copal's kernels built for the device.</param>
/// <param name="Error">Why the device (or the whole kind) is unusable; null when it is usable.</param>
/// <param name="CompileSeconds">
/// How long creating a backend on the device took, compiling every kernel (ILGPU's code generation and, on a GPU, the
/// driver's JIT): what each run of a command on the device pays at its start. Null where nothing was compiled.
/// </param>
/// <param name="NominalMemoryBytesPerSecond">The memory's specified rate where the driver reports it (CUDA); else null.</param>
public sealed record DeviceDescription(
    string Kind, int Index, string Name, string Type, long MemoryBytes, int ComputeUnits, string DriverVersion,
    bool KernelsCompiled, string? Error, double? CompileSeconds = null, double? NominalMemoryBytesPerSecond = null)
{
    /// <summary>
    /// The spec that selects this device, such as "opencl:1", as <see cref="BackendFactory.Create"/> takes it (a
    /// refused device's spec is one Create parses and refuses with ILGPU's reason); null for a row with
    /// <see cref="Index"/> −1, which stands for no device.
    /// </summary>
    public string? Spec => Kind is "cpu" or "ilgpu-cpu" ? Kind : Index >= 0 ? $"{Kind}:{Index}" : null;
}
