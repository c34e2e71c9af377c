using System.Text;
using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>One OpenCL device of one platform, with the properties Copal reads. Index counts devices over all platforms.</summary>
internal sealed unsafe record OpenCLDevice(
    int Index, nint Platform, nint Device, string PlatformName, string Name, string DriverVersion, string Version,
    ulong Type, long MemoryBytes, long MaxAllocationBytes, int ComputeUnits, long MaxWorkGroupSize)
{
    /// <summary>True for a GPU; PoCL's CPU device is not one, and auto never picks it.</summary>
    public bool IsGpu => (Type & OpenCLConstants.DeviceTypeGpu) != 0;

    public string TypeName => IsGpu ? "GPU" : (Type & OpenCLConstants.DeviceTypeCpu) != 0 ? "CPU"
        : (Type & OpenCLConstants.DeviceTypeAccelerator) != 0 ? "accelerator" : "other";

    /// <summary>Every device of every platform; empty when OpenCL or its platforms are absent.</summary>
    public static IReadOnlyList<OpenCLDevice> Enumerate()
    {
        OpenCLApi? api = OpenCLApi.Instance;
        if (api is null)
        {
            return [];
        }
        uint platformCount;
        int status = api.clGetPlatformIDs(0, null, &platformCount);
        if (status == OpenCLConstants.PlatformNotFoundKhr || platformCount == 0)
        {
            return [];   // the ICD loader is installed but no driver is registered
        }
        OpenCLApi.ThrowIfFailed(status);
        var platforms = new nint[platformCount];
        fixed (nint* p = platforms)
        {
            OpenCLApi.ThrowIfFailed(api.clGetPlatformIDs(platformCount, p, null));
        }

        var devices = new List<OpenCLDevice>();
        foreach (nint platform in platforms)
        {
            uint deviceCount;
            status = api.clGetDeviceIDs(platform, OpenCLConstants.DeviceTypeAll, 0, null, &deviceCount);
            if (status == OpenCLConstants.DeviceNotFound || deviceCount == 0)
            {
                continue;
            }
            OpenCLApi.ThrowIfFailed(status);
            var ids = new nint[deviceCount];
            fixed (nint* d = ids)
            {
                OpenCLApi.ThrowIfFailed(api.clGetDeviceIDs(platform, OpenCLConstants.DeviceTypeAll, deviceCount, d, null));
            }
            string platformName = PlatformString(api, platform, OpenCLConstants.PlatformName);
            foreach (nint id in ids)
            {
                devices.Add(new OpenCLDevice(
                    devices.Count, platform, id, platformName,
                    DeviceString(api, id, OpenCLConstants.DeviceName),
                    DeviceString(api, id, OpenCLConstants.DriverVersion),
                    DeviceString(api, id, OpenCLConstants.DeviceVersion),
                    DeviceValue<ulong>(api, id, OpenCLConstants.DeviceType),
                    (long)DeviceValue<ulong>(api, id, OpenCLConstants.DeviceGlobalMemSize),
                    (long)DeviceValue<ulong>(api, id, OpenCLConstants.DeviceMaxMemAllocSize),
                    (int)DeviceValue<uint>(api, id, OpenCLConstants.DeviceMaxComputeUnits),
                    (long)DeviceValue<nuint>(api, id, OpenCLConstants.DeviceMaxWorkGroupSize)));
            }
        }
        return devices;
    }

    private static T DeviceValue<T>(OpenCLApi api, nint device, uint param) where T : unmanaged
    {
        T value;
        OpenCLApi.ThrowIfFailed(api.clGetDeviceInfo(device, param, (nuint)sizeof(T), &value, null));
        return value;
    }

    private static string DeviceString(OpenCLApi api, nint device, uint param)
    {
        nuint size;
        OpenCLApi.ThrowIfFailed(api.clGetDeviceInfo(device, param, 0, null, &size));
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
        {
            OpenCLApi.ThrowIfFailed(api.clGetDeviceInfo(device, param, size, b, null));
        }
        return Decode(bytes);
    }

    private static string PlatformString(OpenCLApi api, nint platform, uint param)
    {
        nuint size;
        OpenCLApi.ThrowIfFailed(api.clGetPlatformInfo(platform, param, 0, null, &size));
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
        {
            OpenCLApi.ThrowIfFailed(api.clGetPlatformInfo(platform, param, size, b, null));
        }
        return Decode(bytes);
    }

    /// <summary>OpenCL strings are NUL-terminated and sometimes padded with spaces.</summary>
    private static string Decode(byte[] bytes) => Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
}
