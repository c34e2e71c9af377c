using Copal.Tensors.Backends.Cuda.Interop;

namespace Copal.Tensors.Backends.Cuda;

/// <summary>f32 elements in device memory of one <see cref="CudaBackend"/>.</summary>
public sealed class CudaBuffer : DeviceBuffer
{
    internal CudaBuffer(CudaBackend owner, CudaMemoryHandle memory, long length)
        : base(length)
    {
        Owner = owner;
        Memory = memory;
    }

    internal CudaBackend Owner { get; }

    internal CudaMemoryHandle Memory { get; }

    protected override void Release() => Memory.Dispose();
}
