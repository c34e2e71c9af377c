using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>f32 elements in an OpenCL buffer object of one <see cref="OpenCLBackend"/>.</summary>
public sealed class OpenCLBuffer : DeviceBuffer
{
    internal OpenCLBuffer(OpenCLBackend owner, OpenCLMemHandle memory, long length)
        : base(length)
    {
        Owner = owner;
        Memory = memory;
    }

    internal OpenCLBackend Owner { get; }

    internal OpenCLMemHandle Memory { get; }

    protected override void Release() => Memory.Dispose();
}
