using System.Reflection;
using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// Points ILGPU's imports of "cuda" and "OpenCL" at the versioned sonames drivers install (libcuda.so.1,
/// libOpenCL.so.1). .NET probes only libcuda.so and libOpenCL.so, which exist only with development packages, so
/// without this a machine with a working driver would report no devices.
/// </summary>
internal static class NativeLibraries
{
    private static int s_installed;

    /// <summary>Installs the resolver once, before ILGPU first touches a driver.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 1 || !OperatingSystem.IsLinux() || IsWsl())
        {
            // On WSL ILGPU installs its own resolver for CUDA, and an assembly takes only one.
            return;
        }
        NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string[] candidates = name switch
        {
            "cuda" => ["libcuda.so.1", "libcuda.so"],
            "OpenCL" => ["libOpenCL.so.1", "libOpenCL.so"],
            _ => [],
        };
        foreach (string candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out IntPtr handle))
            {
                return handle;
            }
        }
        return IntPtr.Zero;
    }

    /// <summary>Whether the library for <paramref name="name"/> ("cuda" or "OpenCL") loads at all, for messages.</summary>
    public static bool Present(string name) => Resolve(name, typeof(ILGPU.Context).Assembly, null) != IntPtr.Zero;

    private static bool IsWsl()
    {
        try
        {
            return File.ReadAllText("/proc/version").Contains("microsoft", StringComparison.OrdinalIgnoreCase);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
