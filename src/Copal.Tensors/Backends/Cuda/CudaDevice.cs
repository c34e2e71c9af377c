using System.Text;
using Copal.Tensors.Backends.Cuda.Interop;

namespace Copal.Tensors.Backends.Cuda;

/// <summary>One CUDA device and the properties Copal reads.</summary>
internal sealed unsafe record CudaDevice(int Index, int Handle, string Name, long MemoryBytes, int Multiprocessors,
    int ComputeMajor, int ComputeMinor, int DriverVersion)
{
    /// <summary>"13.0" from 13000.</summary>
    public string DriverVersionText => $"{DriverVersion / 1000}.{DriverVersion % 1000 / 10}";

    /// <summary>
    /// The devices, or an empty list and the reason: no driver library, cuInit failing (no device, driver and
    /// kernel module mismatch). Never throws for an absent driver.
    /// </summary>
    public static (IReadOnlyList<CudaDevice> Devices, string? Error) Probe()
    {
        CudaApi? api = CudaApi.Instance;
        if (api is null)
        {
            return ([], CudaApi.LoadError);
        }
        int init = api.cuInit(0);
        if (init != CudaConstants.Success)
        {
            return ([], $"cuInit failed with {api.ErrorName(init)} ({init})");
        }
        int driver, count;
        api.ThrowIfFailed(api.cuDriverGetVersion(&driver));
        api.ThrowIfFailed(api.cuDeviceGetCount(&count));
        var devices = new List<CudaDevice>(count);
        byte* name = stackalloc byte[256];
        for (int i = 0; i < count; i++)
        {
            int handle;
            api.ThrowIfFailed(api.cuDeviceGet(&handle, i));
            api.ThrowIfFailed(api.cuDeviceGetName(name, 256, handle));
            nuint memory;
            api.ThrowIfFailed(api.cuDeviceTotalMem_v2(&memory, handle));
            devices.Add(new CudaDevice(i, handle, new string((sbyte*)name, 0, Length(name, 256), Encoding.UTF8), (long)memory,
                Attribute(api, handle, CudaConstants.AttributeMultiprocessorCount),
                Attribute(api, handle, CudaConstants.AttributeComputeCapabilityMajor),
                Attribute(api, handle, CudaConstants.AttributeComputeCapabilityMinor),
                driver));
        }
        return (devices, count == 0 ? "the CUDA driver reports no devices" : null);
    }

    private static int Attribute(CudaApi api, int device, int attribute)
    {
        int value;
        api.ThrowIfFailed(api.cuDeviceGetAttribute(&value, attribute, device));
        return value;
    }

    private static int Length(byte* text, int max)
    {
        int n = 0;
        while (n < max && text[n] != 0)
        {
            n++;
        }
        return n;
    }
}
