using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>A weight matrix in an OpenCL buffer, in its stored dtype (F32, F16 or BF16); kernels convert on load.</summary>
public sealed class OpenCLWeight : DeviceWeight
{
    internal OpenCLWeight(OpenCLBackend owner, OpenCLMemHandle memory, string name, DType dtype, int rows, int cols)
        : base(name, dtype, rows, cols)
    {
        Owner = owner;
        Memory = memory;
    }

    internal OpenCLBackend Owner { get; }

    internal OpenCLMemHandle Memory { get; }

    protected override void Release() => Memory.Dispose();
}
