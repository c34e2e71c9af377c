using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.Cuda.Interop;

/// <summary>
/// A device allocation (CUdeviceptr) freed with cuMemFree_v2. It remembers its context because the free must run
/// with that context current, also on the finalizer thread.
/// </summary>
internal sealed unsafe class CudaMemoryHandle : SafeHandle
{
    private readonly nint _context;

    public CudaMemoryHandle(ulong pointer, nint context)
        : base(0, ownsHandle: true)
    {
        SetHandle((nint)pointer);
        _context = context;
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The CUdeviceptr.</summary>
    public ulong Pointer => (ulong)handle;

    protected override bool ReleaseHandle()
    {
        CudaApi api = CudaApi.Require();
        // Fails harmlessly when the context is already gone, which freed the allocation with it.
        return api.cuCtxSetCurrent(_context) == CudaConstants.Success && api.cuMemFree_v2((ulong)handle) == CudaConstants.Success;
    }
}
