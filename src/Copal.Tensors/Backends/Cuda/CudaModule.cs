using System.Text;
using Copal.Tensors.Backends.Cuda.Interop;
using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Backends.Cuda;

/// <summary>
/// The shared kernel sources compiled by NVRTC to PTX for one device, loaded as a module, with every entry point
/// resolved. PTX for the device's virtual architecture is JIT-compiled by the driver; no disk cache, since NVRTC
/// is fast and the driver keeps its own JIT cache.
/// </summary>
internal static unsafe class CudaModule
{
    /// <summary>Compiles <paramref name="source"/> to PTX for <paramref name="device"/>; a failure throws with the NVRTC log.</summary>
    public static byte[] CompileToPtx(NvrtcApi nvrtc, CudaDevice device, string source)
    {
        int arch = Architecture(nvrtc, device);
        string[] options = [$"--gpu-architecture=compute_{arch}"];
        byte[] text = Encoding.UTF8.GetBytes(source + "\0");
        byte[] name = "copal_kernels.cu\0"u8.ToArray();
        nint program;
        fixed (byte* t = text, n = name)
        {
            nvrtc.ThrowIfFailed(nvrtc.nvrtcCreateProgram(&program, t, n, 0, null, null));
        }
        try
        {
            byte[][] optionBytes = options.Select(o => Encoding.ASCII.GetBytes(o + "\0")).ToArray();
            var handles = optionBytes.Select(o => System.Runtime.InteropServices.GCHandle.Alloc(o, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
            int compiled;
            try
            {
                byte** pointers = stackalloc byte*[options.Length];
                for (int i = 0; i < options.Length; i++)
                {
                    pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
                }
                compiled = nvrtc.nvrtcCompileProgram(program, options.Length, pointers);
            }
            finally
            {
                foreach (var handle in handles)
                {
                    handle.Free();
                }
            }
            if (compiled != CudaConstants.NvrtcSuccess)
            {
                nvrtc.ThrowIfFailed(compiled, "nvrtcCompileProgram",
                    $"kernels did not compile for '{device.Name}' ({string.Join(' ', options)}) with {nvrtc.Name}:\n{Log(nvrtc, program)}");
            }
            nuint size;
            nvrtc.ThrowIfFailed(nvrtc.nvrtcGetPTXSize(program, &size));
            var ptx = new byte[(int)size];   // includes the terminating NUL cuModuleLoadData needs
            fixed (byte* p = ptx)
            {
                nvrtc.ThrowIfFailed(nvrtc.nvrtcGetPTX(program, p));
            }
            return ptx;
        }
        finally
        {
            nvrtc.nvrtcDestroyProgram(&program);
        }
    }

    /// <summary>Loads PTX and resolves every <see cref="KernelId"/>; the context must be current.</summary>
    public static (nint Module, nint[] Functions) Load(CudaApi api, byte[] ptx)
    {
        nint module;
        fixed (byte* p = ptx)
        {
            int loaded = api.cuModuleLoadData(&module, p);
            if (loaded == CudaConstants.ErrorUnsupportedPtxVersion)
            {
                throw new CudaException("cuModuleLoadData", loaded, api.ErrorName(loaded),
                    "the NVRTC library is newer than the installed driver; install a driver at least as new as the CUDA toolkit");
            }
            api.ThrowIfFailed(loaded);
        }
        var functions = new nint[KernelNames.All.Length];
        for (int i = 0; i < functions.Length; i++)
        {
            byte[] name = Encoding.ASCII.GetBytes(KernelNames.All[i] + "\0");
            nint function;
            fixed (byte* n = name)
            {
                int found = api.cuModuleGetFunction(&function, module, n);
                if (found != CudaConstants.Success)
                {
                    api.cuModuleUnload(module);
                    throw new CudaException($"cuModuleGetFunction({KernelNames.All[i]})", found, api.ErrorName(found), null);
                }
            }
            functions[i] = function;
        }
        return (module, functions);
    }

    /// <summary>
    /// The device's compute capability as a virtual architecture (90 for an H100), lowered to the newest one this
    /// NVRTC knows when the device is newer than the compiler; PTX of an older architecture runs on newer devices.
    /// </summary>
    internal static int Architecture(NvrtcApi nvrtc, CudaDevice device)
    {
        int wanted = device.ComputeMajor * 10 + device.ComputeMinor;
        int[] supported = nvrtc.SupportedArchitectures();
        if (supported.Length == 0 || supported.Contains(wanted))
        {
            return wanted;
        }
        int[] older = supported.Where(a => a <= wanted).ToArray();
        return older.Length > 0 ? older.Max() : supported.Min();
    }

    private static string Log(NvrtcApi nvrtc, nint program)
    {
        nuint size;
        if (nvrtc.nvrtcGetProgramLogSize(program, &size) != CudaConstants.NvrtcSuccess || size == 0)
        {
            return "(no log)";
        }
        var log = new byte[(int)size];
        fixed (byte* l = log)
        {
            nvrtc.nvrtcGetProgramLog(program, l);
        }
        return Encoding.UTF8.GetString(log).TrimEnd('\0');
    }
}
