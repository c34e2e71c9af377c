using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.Cuda.Interop;

/// <summary>
/// NVRTC, the CUDA runtime compiler, as function pointers. Its soname carries the CUDA version, so the known ones
/// are probed newest first, then the folders named by CUDA_PATH / CUDA_HOME. Loading never throws.
/// </summary>
internal sealed unsafe class NvrtcApi
{
    private static readonly string[] s_libraryNames =
    [
        "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0",
        "nvrtc64_130_0", "nvrtc64_120_0", "nvrtc64_112_0",
    ];

    private static readonly Lazy<(NvrtcApi? Api, string? Error)> s_instance = new(Load);

    public static NvrtcApi? Instance => s_instance.Value.Api;

    public static string? LoadError => s_instance.Value.Error;

    public static NvrtcApi Require() => Instance ?? throw new CudaException($"NVRTC is not available: {LoadError}");

    public readonly delegate* unmanaged<int*, int*, int> nvrtcVersion;
    public readonly delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> nvrtcCreateProgram;
    public readonly delegate* unmanaged<nint, int, byte**, int> nvrtcCompileProgram;
    public readonly delegate* unmanaged<nint, nuint*, int> nvrtcGetProgramLogSize;
    public readonly delegate* unmanaged<nint, byte*, int> nvrtcGetProgramLog;
    public readonly delegate* unmanaged<nint, nuint*, int> nvrtcGetPTXSize;
    public readonly delegate* unmanaged<nint, byte*, int> nvrtcGetPTX;
    public readonly delegate* unmanaged<nint*, int> nvrtcDestroyProgram;
    public readonly delegate* unmanaged<int, byte*> nvrtcGetErrorString;

    /// <summary>Since CUDA 11.2; null before. Lists the virtual architectures this NVRTC can target.</summary>
    public readonly delegate* unmanaged<int*, int> nvrtcGetNumSupportedArchs;
    public readonly delegate* unmanaged<int*, int> nvrtcGetSupportedArchs;

    private NvrtcApi(nint library, string name)
    {
        Name = name;
        nvrtcVersion = (delegate* unmanaged<int*, int*, int>)CudaApi.Export(library, nameof(nvrtcVersion));
        nvrtcCreateProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)CudaApi.Export(library, nameof(nvrtcCreateProgram));
        nvrtcCompileProgram = (delegate* unmanaged<nint, int, byte**, int>)CudaApi.Export(library, nameof(nvrtcCompileProgram));
        nvrtcGetProgramLogSize = (delegate* unmanaged<nint, nuint*, int>)CudaApi.Export(library, nameof(nvrtcGetProgramLogSize));
        nvrtcGetProgramLog = (delegate* unmanaged<nint, byte*, int>)CudaApi.Export(library, nameof(nvrtcGetProgramLog));
        nvrtcGetPTXSize = (delegate* unmanaged<nint, nuint*, int>)CudaApi.Export(library, nameof(nvrtcGetPTXSize));
        nvrtcGetPTX = (delegate* unmanaged<nint, byte*, int>)CudaApi.Export(library, nameof(nvrtcGetPTX));
        nvrtcDestroyProgram = (delegate* unmanaged<nint*, int>)CudaApi.Export(library, nameof(nvrtcDestroyProgram));
        nvrtcGetErrorString = (delegate* unmanaged<int, byte*>)CudaApi.Export(library, nameof(nvrtcGetErrorString));
        if (NativeLibrary.TryGetExport(library, nameof(nvrtcGetNumSupportedArchs), out nint count)
            && NativeLibrary.TryGetExport(library, nameof(nvrtcGetSupportedArchs), out nint archs))
        {
            nvrtcGetNumSupportedArchs = (delegate* unmanaged<int*, int>)count;
            nvrtcGetSupportedArchs = (delegate* unmanaged<int*, int>)archs;
        }
    }

    /// <summary>The library name that loaded.</summary>
    public string Name { get; }

    /// <summary>Throws <see cref="CudaException"/> naming the call and the NVRTC result unless it is NVRTC_SUCCESS.</summary>
    public void ThrowIfFailed(int result, [CallerArgumentExpression(nameof(result))] string call = "", string? detail = null)
    {
        if (result != CudaConstants.NvrtcSuccess)
        {
            throw new CudaException(call, result, Marshal.PtrToStringUTF8((nint)nvrtcGetErrorString(result)) ?? $"nvrtcResult {result}", detail);
        }
    }

    /// <summary>The virtual architectures (e.g. 90 for compute_90) this NVRTC supports; empty when it cannot say.</summary>
    public int[] SupportedArchitectures()
    {
        if (nvrtcGetNumSupportedArchs == null)
        {
            return [];
        }
        int count;
        if (nvrtcGetNumSupportedArchs(&count) != CudaConstants.NvrtcSuccess || count <= 0)
        {
            return [];
        }
        var archs = new int[count];
        fixed (int* a = archs)
        {
            return nvrtcGetSupportedArchs(a) == CudaConstants.NvrtcSuccess ? archs : [];
        }
    }

    private static (NvrtcApi?, string?) Load()
    {
        var candidates = new List<string>(s_libraryNames);
        foreach (string variable in (string[])["CUDA_PATH", "CUDA_HOME"])
        {
            string? root = Environment.GetEnvironmentVariable(variable);
            if (!string.IsNullOrEmpty(root))
            {
                candidates.AddRange(s_libraryNames.Select(n => Path.Combine(root, "lib64", n)));
                candidates.AddRange(s_libraryNames.Select(n => Path.Combine(root, "bin", n)));
            }
        }
        foreach (string name in candidates)
        {
            if (NativeLibrary.TryLoad(name, out nint library))
            {
                try
                {
                    return (new NvrtcApi(library, name), null);
                }
                catch (EntryPointNotFoundException e)
                {
                    return (null, $"{name} is unusable: {e.Message}");
                }
            }
        }
        return (null, $"no NVRTC library found (tried {string.Join(", ", s_libraryNames)}, and under CUDA_PATH / CUDA_HOME)");
    }
}
