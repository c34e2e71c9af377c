using System.Text;
using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>Builds the kernel program for one device: from the disk cache when it holds a usable binary, else from source.</summary>
internal static unsafe class OpenCLProgram
{
    /// <summary>OpenCL C 1.2, no fast-math: results must match the CPU to f32 rounding.</summary>
    public const string BuildOptions = "-cl-std=CL1.2";

    public static OpenCLProgramHandle Build(OpenCLApi api, OpenCLContextHandle context, OpenCLDevice device, string source,
        OpenCLProgramCache? cache, Action<string>? log)
    {
        string key = OpenCLProgramCache.Key(device.PlatformName, device.Name, device.DriverVersion, BuildOptions,
            Gpu.KernelSource.Hash(source));
        byte[]? binary = cache?.TryRead(key, log);
        if (cache is not null && binary is not null)
        {
            OpenCLProgramHandle? cached = TryFromBinary(api, context, device, binary);
            if (cached is not null)
            {
                return cached;
            }
            log?.Invoke($"opencl: the driver rejected cached kernels '{cache.PathOf(key)}'; rebuilding them");
            cache.Delete(key);
        }

        OpenCLProgramHandle program = FromSource(api, context, device, source);
        if (cache is not null)
        {
            cache.Write(key, ReadBinary(api, program), log);
        }
        return program;
    }

    private static OpenCLProgramHandle FromSource(OpenCLApi api, OpenCLContextHandle context, OpenCLDevice device, string source)
    {
        byte[] text = Encoding.UTF8.GetBytes(source);
        int status;
        nint raw;
        fixed (byte* t = text)
        {
            byte* strings = t;
            nuint length = (nuint)text.Length;
            raw = api.clCreateProgramWithSource(context.Value, 1, &strings, &length, &status);
        }
        OpenCLApi.ThrowIfFailed(status, "clCreateProgramWithSource");
        var program = new OpenCLProgramHandle(raw);
        int build = BuildProgram(api, program, device);
        if (build != OpenCLConstants.Success)
        {
            string buildLog = BuildLog(api, program, device);
            program.Dispose();
            throw new OpenCLException("clBuildProgram", build, $"kernels did not compile for '{device.Name}':\n{buildLog}");
        }
        return program;
    }

    /// <summary>Null when the driver refuses the binary (another driver build, a damaged file).</summary>
    private static OpenCLProgramHandle? TryFromBinary(OpenCLApi api, OpenCLContextHandle context, OpenCLDevice device, byte[] binary)
    {
        int status, binaryStatus;
        nint raw;
        nint id = device.Device;
        fixed (byte* b = binary)
        {
            byte* binaries = b;
            nuint length = (nuint)binary.Length;
            raw = api.clCreateProgramWithBinary(context.Value, 1, &id, &length, &binaries, &binaryStatus, &status);
        }
        if (status != OpenCLConstants.Success || binaryStatus != OpenCLConstants.Success || raw == 0)
        {
            if (raw != 0)
            {
                api.clReleaseProgram(raw);
            }
            return null;
        }
        var program = new OpenCLProgramHandle(raw);
        if (BuildProgram(api, program, device) != OpenCLConstants.Success)
        {
            program.Dispose();
            return null;
        }
        return program;
    }

    private static int BuildProgram(OpenCLApi api, OpenCLProgramHandle program, OpenCLDevice device)
    {
        byte[] options = Encoding.ASCII.GetBytes(BuildOptions + "\0");
        nint id = device.Device;
        fixed (byte* o = options)
        {
            return api.clBuildProgram(program.Value, 1, &id, o, 0, 0);
        }
    }

    private static string BuildLog(OpenCLApi api, OpenCLProgramHandle program, OpenCLDevice device)
    {
        nuint size;
        if (api.clGetProgramBuildInfo(program.Value, device.Device, OpenCLConstants.ProgramBuildLog, 0, null, &size) != OpenCLConstants.Success)
        {
            return "(no build log)";
        }
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
        {
            OpenCLApi.ThrowIfFailed(api.clGetProgramBuildInfo(program.Value, device.Device, OpenCLConstants.ProgramBuildLog, size, b, null));
        }
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0');
    }

    private static byte[] ReadBinary(OpenCLApi api, OpenCLProgramHandle program)
    {
        nuint size;
        OpenCLApi.ThrowIfFailed(api.clGetProgramInfo(program.Value, OpenCLConstants.ProgramBinarySizes, (nuint)sizeof(nuint), &size, null));
        var binary = new byte[(int)size];
        fixed (byte* b = binary)
        {
            byte* pointer = b;
            OpenCLApi.ThrowIfFailed(api.clGetProgramInfo(program.Value, OpenCLConstants.ProgramBinaries, (nuint)sizeof(nint), &pointer, null));
        }
        return binary;
    }
}
