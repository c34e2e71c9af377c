using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.Cuda.Interop;

/// <summary>
/// The CUDA driver API entry points Copal uses, as function pointers from libcuda.so.1 (nvcuda.dll). Loading never
/// throws: <see cref="Instance"/> is null and <see cref="LoadError"/> says why when no driver is installed. Names
/// are the exported C names (the _v2 ones where the header maps to them), so failures name the real call.
/// </summary>
internal sealed unsafe class CudaApi
{
    private static readonly string[] s_libraryNames = ["libcuda.so.1", "libcuda.so", "nvcuda"];
    private static readonly Lazy<(CudaApi? Api, string? Error)> s_instance = new(Load);

    public static CudaApi? Instance => s_instance.Value.Api;

    public static string? LoadError => s_instance.Value.Error;

    public static CudaApi Require() => Instance ?? throw new CudaException($"CUDA is not available: {LoadError}");

    public readonly delegate* unmanaged<uint, int> cuInit;
    public readonly delegate* unmanaged<int*, int> cuDriverGetVersion;
    public readonly delegate* unmanaged<int*, int> cuDeviceGetCount;
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
    public readonly delegate* unmanaged<nuint*, int, int> cuDeviceTotalMem_v2;
    public readonly delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
    public readonly delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease_v2;
    public readonly delegate* unmanaged<nint, int> cuCtxSetCurrent;
    public readonly delegate* unmanaged<nint*, void*, int> cuModuleLoadData;
    public readonly delegate* unmanaged<nint, int> cuModuleUnload;
    public readonly delegate* unmanaged<nint*, nint, byte*, int> cuModuleGetFunction;
    public readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc_v2;
    public readonly delegate* unmanaged<ulong, int> cuMemFree_v2;
    public readonly delegate* unmanaged<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync_v2;
    public readonly delegate* unmanaged<void*, ulong, nuint, nint, int> cuMemcpyDtoHAsync_v2;
    public readonly delegate* unmanaged<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync_v2;
    public readonly delegate* unmanaged<ulong, uint, nuint, nint, int> cuMemsetD32Async;
    public readonly delegate* unmanaged<nint*, uint, int> cuStreamCreate;
    public readonly delegate* unmanaged<nint, int> cuStreamDestroy_v2;
    public readonly delegate* unmanaged<nint, int> cuStreamSynchronize;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorName;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorString;

    private CudaApi(nint library)
    {
        cuInit = (delegate* unmanaged<uint, int>)Export(library, nameof(cuInit));
        cuDriverGetVersion = (delegate* unmanaged<int*, int>)Export(library, nameof(cuDriverGetVersion));
        cuDeviceGetCount = (delegate* unmanaged<int*, int>)Export(library, nameof(cuDeviceGetCount));
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)Export(library, nameof(cuDeviceGet));
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export(library, nameof(cuDeviceGetName));
        cuDeviceTotalMem_v2 = (delegate* unmanaged<nuint*, int, int>)Export(library, nameof(cuDeviceTotalMem_v2));
        cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Export(library, nameof(cuDeviceGetAttribute));
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)Export(library, nameof(cuDevicePrimaryCtxRetain));
        cuDevicePrimaryCtxRelease_v2 = (delegate* unmanaged<int, int>)Export(library, nameof(cuDevicePrimaryCtxRelease_v2));
        cuCtxSetCurrent = (delegate* unmanaged<nint, int>)Export(library, nameof(cuCtxSetCurrent));
        cuModuleLoadData = (delegate* unmanaged<nint*, void*, int>)Export(library, nameof(cuModuleLoadData));
        cuModuleUnload = (delegate* unmanaged<nint, int>)Export(library, nameof(cuModuleUnload));
        cuModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)Export(library, nameof(cuModuleGetFunction));
        cuLaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)Export(library, nameof(cuLaunchKernel));
        cuMemAlloc_v2 = (delegate* unmanaged<ulong*, nuint, int>)Export(library, nameof(cuMemAlloc_v2));
        cuMemFree_v2 = (delegate* unmanaged<ulong, int>)Export(library, nameof(cuMemFree_v2));
        cuMemcpyHtoDAsync_v2 = (delegate* unmanaged<ulong, void*, nuint, nint, int>)Export(library, nameof(cuMemcpyHtoDAsync_v2));
        cuMemcpyDtoHAsync_v2 = (delegate* unmanaged<void*, ulong, nuint, nint, int>)Export(library, nameof(cuMemcpyDtoHAsync_v2));
        cuMemcpyDtoDAsync_v2 = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)Export(library, nameof(cuMemcpyDtoDAsync_v2));
        cuMemsetD32Async = (delegate* unmanaged<ulong, uint, nuint, nint, int>)Export(library, nameof(cuMemsetD32Async));
        cuStreamCreate = (delegate* unmanaged<nint*, uint, int>)Export(library, nameof(cuStreamCreate));
        cuStreamDestroy_v2 = (delegate* unmanaged<nint, int>)Export(library, nameof(cuStreamDestroy_v2));
        cuStreamSynchronize = (delegate* unmanaged<nint, int>)Export(library, nameof(cuStreamSynchronize));
        cuGetErrorName = (delegate* unmanaged<int, byte**, int>)Export(library, nameof(cuGetErrorName));
        cuGetErrorString = (delegate* unmanaged<int, byte**, int>)Export(library, nameof(cuGetErrorString));
    }

    /// <summary>Throws <see cref="CudaException"/> naming the call and the CUresult unless it is CUDA_SUCCESS.</summary>
    public void ThrowIfFailed(int result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != CudaConstants.Success)
        {
            throw new CudaException(call, result, ErrorName(result), ErrorText(result));
        }
    }

    /// <summary>"CUDA_ERROR_OUT_OF_MEMORY" for 2, from the driver itself.</summary>
    public string ErrorName(int result)
    {
        byte* name = null;
        return cuGetErrorName(result, &name) == CudaConstants.Success && name != null
            ? Marshal.PtrToStringUTF8((nint)name) ?? $"CUresult {result}"
            : $"CUresult {result}";
    }

    private string? ErrorText(int result)
    {
        byte* text = null;
        return cuGetErrorString(result, &text) == CudaConstants.Success && text != null ? Marshal.PtrToStringUTF8((nint)text) : null;
    }

    private static (CudaApi?, string?) Load()
    {
        foreach (string name in s_libraryNames)
        {
            if (NativeLibrary.TryLoad(name, out nint library))
            {
                try
                {
                    return (new CudaApi(library), null);
                }
                catch (EntryPointNotFoundException e)
                {
                    return (null, $"{name} is too old: {e.Message}");
                }
            }
        }
        return (null, $"no CUDA driver found (tried {string.Join(", ", s_libraryNames)})");
    }

    internal static nint Export(nint library, string name) =>
        NativeLibrary.TryGetExport(library, name, out nint address)
            ? address
            : throw new EntryPointNotFoundException($"'{name}' not exported");
}
