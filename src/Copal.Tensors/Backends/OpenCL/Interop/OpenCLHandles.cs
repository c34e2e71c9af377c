using Microsoft.Win32.SafeHandles;

namespace Copal.Tensors.Backends.OpenCL.Interop;

/// <summary>An OpenCL object released through its clRelease* call when disposed or finalized.</summary>
internal abstract unsafe class OpenCLHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    protected OpenCLHandle(nint handle)
        : base(ownsHandle: true) => SetHandle(handle);

    /// <summary>The raw cl_* value to pass to the API.</summary>
    public nint Value => handle;

    // Release errors cannot be reported from a finalizer; a false return only shows up in debug probes.
    protected override bool ReleaseHandle() => Release(OpenCLApi.Require(), handle) == OpenCLConstants.Success;

    protected abstract int Release(OpenCLApi api, nint value);
}

internal sealed unsafe class OpenCLContextHandle(nint handle) : OpenCLHandle(handle)
{
    protected override int Release(OpenCLApi api, nint value) => api.clReleaseContext(value);
}

internal sealed unsafe class OpenCLQueueHandle(nint handle) : OpenCLHandle(handle)
{
    protected override int Release(OpenCLApi api, nint value) => api.clReleaseCommandQueue(value);
}

internal sealed unsafe class OpenCLProgramHandle(nint handle) : OpenCLHandle(handle)
{
    protected override int Release(OpenCLApi api, nint value) => api.clReleaseProgram(value);
}

internal sealed unsafe class OpenCLKernelHandle(nint handle) : OpenCLHandle(handle)
{
    protected override int Release(OpenCLApi api, nint value) => api.clReleaseKernel(value);
}

internal sealed unsafe class OpenCLMemHandle(nint handle) : OpenCLHandle(handle)
{
    protected override int Release(OpenCLApi api, nint value) => api.clReleaseMemObject(value);
}
