using ILGPU;
using ILGPU.Runtime;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>f32 elements in the memory of one <see cref="IlgpuBackend"/>'s accelerator.</summary>
internal sealed class IlgpuBuffer : DeviceBuffer
{
    internal IlgpuBuffer(IlgpuBackend owner, MemoryBuffer1D<float, Stride1D.Dense> memory, long length)
        : base(length)
    {
        Owner = owner;
        Memory = memory;
    }

    internal IlgpuBackend Owner { get; }

    internal MemoryBuffer1D<float, Stride1D.Dense> Memory { get; }

    /// <summary>The whole buffer as a kernel argument.</summary>
    internal ArrayView<float> View => Memory.View.AsContiguous();

    /// <inheritdoc/>
    protected override void Release() => Memory.Dispose();
}
