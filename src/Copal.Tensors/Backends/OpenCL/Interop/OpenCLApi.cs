using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.OpenCL.Interop;

/// <summary>
/// The OpenCL 1.2 entry points Copal uses, as function pointers resolved from the ICD loader (libOpenCL.so.1 /
/// OpenCL.dll). Loading never throws: <see cref="Instance"/> is null and <see cref="LoadError"/> says why when
/// there is no OpenCL runtime. Field names are the C names, so <see cref="ThrowIfFailed"/> messages name the call.
/// </summary>
internal sealed unsafe class OpenCLApi
{
    private static readonly string[] s_libraryNames = ["libOpenCL.so.1", "libOpenCL.so", "OpenCL"];
    private static readonly Lazy<(OpenCLApi? Api, string? Error)> s_instance = new(Load);

    /// <summary>The loaded API, or null when no OpenCL library (or one missing a needed export) is present.</summary>
    public static OpenCLApi? Instance => s_instance.Value.Api;

    /// <summary>Why <see cref="Instance"/> is null.</summary>
    public static string? LoadError => s_instance.Value.Error;

    /// <summary>The loaded API; throws <see cref="OpenCLException"/> with the load error when there is none.</summary>
    public static OpenCLApi Require() =>
        Instance ?? throw new OpenCLException($"OpenCL is not available: {LoadError}");

    public readonly delegate* unmanaged<uint, nint*, uint*, int> clGetPlatformIDs;
    public readonly delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> clGetPlatformInfo;
    public readonly delegate* unmanaged<nint, ulong, uint, nint*, uint*, int> clGetDeviceIDs;
    public readonly delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> clGetDeviceInfo;
    public readonly delegate* unmanaged<nint*, uint, nint*, nint, nint, int*, nint> clCreateContext;
    public readonly delegate* unmanaged<nint, int> clReleaseContext;
    public readonly delegate* unmanaged<nint, nint, ulong, int*, nint> clCreateCommandQueue;
    public readonly delegate* unmanaged<nint, int> clReleaseCommandQueue;
    public readonly delegate* unmanaged<nint, ulong, nuint, void*, int*, nint> clCreateBuffer;
    public readonly delegate* unmanaged<nint, int> clReleaseMemObject;
    public readonly delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int> clEnqueueWriteBuffer;
    public readonly delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int> clEnqueueReadBuffer;
    public readonly delegate* unmanaged<nint, nint, nint, nuint, nuint, nuint, uint, nint*, nint*, int> clEnqueueCopyBuffer;
    public readonly delegate* unmanaged<nint, nint, void*, nuint, nuint, nuint, uint, nint*, nint*, int> clEnqueueFillBuffer;
    public readonly delegate* unmanaged<nint, uint, byte**, nuint*, int*, nint> clCreateProgramWithSource;
    public readonly delegate* unmanaged<nint, uint, nint*, nuint*, byte**, int*, int*, nint> clCreateProgramWithBinary;
    public readonly delegate* unmanaged<nint, uint, nint*, byte*, nint, nint, int> clBuildProgram;
    public readonly delegate* unmanaged<nint, nint, uint, nuint, void*, nuint*, int> clGetProgramBuildInfo;
    public readonly delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> clGetProgramInfo;
    public readonly delegate* unmanaged<nint, int> clReleaseProgram;
    public readonly delegate* unmanaged<nint, byte*, int*, nint> clCreateKernel;
    public readonly delegate* unmanaged<nint, int> clReleaseKernel;
    public readonly delegate* unmanaged<nint, uint, nuint, void*, int> clSetKernelArg;
    public readonly delegate* unmanaged<nint, nint, uint, nuint*, nuint*, nuint*, uint, nint*, nint*, int> clEnqueueNDRangeKernel;
    public readonly delegate* unmanaged<nint, int> clFinish;

    private OpenCLApi(nint library)
    {
        clGetPlatformIDs = (delegate* unmanaged<uint, nint*, uint*, int>)Export(library, nameof(clGetPlatformIDs));
        clGetPlatformInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)Export(library, nameof(clGetPlatformInfo));
        clGetDeviceIDs = (delegate* unmanaged<nint, ulong, uint, nint*, uint*, int>)Export(library, nameof(clGetDeviceIDs));
        clGetDeviceInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)Export(library, nameof(clGetDeviceInfo));
        clCreateContext = (delegate* unmanaged<nint*, uint, nint*, nint, nint, int*, nint>)Export(library, nameof(clCreateContext));
        clReleaseContext = (delegate* unmanaged<nint, int>)Export(library, nameof(clReleaseContext));
        clCreateCommandQueue = (delegate* unmanaged<nint, nint, ulong, int*, nint>)Export(library, nameof(clCreateCommandQueue));
        clReleaseCommandQueue = (delegate* unmanaged<nint, int>)Export(library, nameof(clReleaseCommandQueue));
        clCreateBuffer = (delegate* unmanaged<nint, ulong, nuint, void*, int*, nint>)Export(library, nameof(clCreateBuffer));
        clReleaseMemObject = (delegate* unmanaged<nint, int>)Export(library, nameof(clReleaseMemObject));
        clEnqueueWriteBuffer = (delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int>)Export(library, nameof(clEnqueueWriteBuffer));
        clEnqueueReadBuffer = (delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int>)Export(library, nameof(clEnqueueReadBuffer));
        clEnqueueCopyBuffer = (delegate* unmanaged<nint, nint, nint, nuint, nuint, nuint, uint, nint*, nint*, int>)Export(library, nameof(clEnqueueCopyBuffer));
        clEnqueueFillBuffer = (delegate* unmanaged<nint, nint, void*, nuint, nuint, nuint, uint, nint*, nint*, int>)Export(library, nameof(clEnqueueFillBuffer));
        clCreateProgramWithSource = (delegate* unmanaged<nint, uint, byte**, nuint*, int*, nint>)Export(library, nameof(clCreateProgramWithSource));
        clCreateProgramWithBinary = (delegate* unmanaged<nint, uint, nint*, nuint*, byte**, int*, int*, nint>)Export(library, nameof(clCreateProgramWithBinary));
        clBuildProgram = (delegate* unmanaged<nint, uint, nint*, byte*, nint, nint, int>)Export(library, nameof(clBuildProgram));
        clGetProgramBuildInfo = (delegate* unmanaged<nint, nint, uint, nuint, void*, nuint*, int>)Export(library, nameof(clGetProgramBuildInfo));
        clGetProgramInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)Export(library, nameof(clGetProgramInfo));
        clReleaseProgram = (delegate* unmanaged<nint, int>)Export(library, nameof(clReleaseProgram));
        clCreateKernel = (delegate* unmanaged<nint, byte*, int*, nint>)Export(library, nameof(clCreateKernel));
        clReleaseKernel = (delegate* unmanaged<nint, int>)Export(library, nameof(clReleaseKernel));
        clSetKernelArg = (delegate* unmanaged<nint, uint, nuint, void*, int>)Export(library, nameof(clSetKernelArg));
        clEnqueueNDRangeKernel = (delegate* unmanaged<nint, nint, uint, nuint*, nuint*, nuint*, uint, nint*, nint*, int>)Export(library, nameof(clEnqueueNDRangeKernel));
        clFinish = (delegate* unmanaged<nint, int>)Export(library, nameof(clFinish));
    }

    /// <summary>Throws <see cref="OpenCLException"/> naming the call and the CL error unless status is CL_SUCCESS.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != OpenCLConstants.Success)
        {
            throw new OpenCLException(call, status);
        }
    }

    private static (OpenCLApi?, string?) Load()
    {
        foreach (string name in s_libraryNames)
        {
            if (NativeLibrary.TryLoad(name, out nint library))
            {
                try
                {
                    return (new OpenCLApi(library), null);
                }
                catch (EntryPointNotFoundException e)
                {
                    return (null, $"{name} lacks an OpenCL 1.2 entry point: {e.Message}");
                }
            }
        }
        return (null, $"no OpenCL library found (tried {string.Join(", ", s_libraryNames)})");
    }

    private static nint Export(nint library, string name) =>
        NativeLibrary.TryGetExport(library, name, out nint address)
            ? address
            : throw new EntryPointNotFoundException($"'{name}' not exported");
}
