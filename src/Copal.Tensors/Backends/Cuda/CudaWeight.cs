using Copal.Tensors.Backends.Cuda.Interop;

namespace Copal.Tensors.Backends.Cuda;

/// <summary>A weight matrix in device memory, in its stored dtype (F32, F16 or BF16); kernels convert on load.</summary>
public sealed class CudaWeight : DeviceWeight
{
    internal CudaWeight(CudaBackend owner, CudaMemoryHandle memory, string name, DType dtype, int rows, int cols)
        : base(name, dtype, rows, cols)
    {
        Owner = owner;
        Memory = memory;
    }

    internal CudaBackend Owner { get; }

    internal CudaMemoryHandle Memory { get; }

    protected override void Release() => Memory.Dispose();
}
