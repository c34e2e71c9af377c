using System.Diagnostics;
using System.Text.RegularExpressions;
using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// Compiles the exact CUDA program text (CUDA prelude + kernel files) to PTX with clang's NVPTX backend, where
/// clang is installed: the closest check of the NVRTC input possible without a CUDA toolkit. The shim supplies
/// only what NVRTC has built in (the qualifiers, threadIdx &amp; co., the float math functions).
/// </summary>
public partial class CudaSourceCompileTests
{
    private const string NvrtcBuiltins = """
        #define __global__ __attribute__((global))
        #define __device__ __attribute__((device))
        #define __shared__ __attribute__((shared))
        #define __forceinline__ __attribute__((always_inline))
        #include "__clang_cuda_builtin_vars.h"
        extern "C" __device__ float expf(float);
        extern "C" __device__ float sqrtf(float);
        extern "C" __device__ float fmaxf(float, float);
        static __device__ int min(int a, int b) { return a < b ? a : b; }
        static __device__ float __uint_as_float(unsigned int u) { return __builtin_bit_cast(float, u); }
        #define __syncthreads() __nvvm_bar_sync(0)
        """;

    [ClangFact]
    public void The_cuda_program_compiles_to_ptx_with_every_entry_point_unmangled()
    {
        string folder = Directory.CreateTempSubdirectory("copal-cuda-").FullName;
        try
        {
            string shim = Path.Combine(folder, "nvrtc_builtins.h"), source = Path.Combine(folder, "kernels.cu"), ptx = Path.Combine(folder, "kernels.ptx");
            File.WriteAllText(shim, NvrtcBuiltins);
            File.WriteAllText(source, KernelSource.Cuda);
            var start = new ProcessStartInfo(ClangFactAttribute.Clang!,
                ["-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib", "-include", shim, "-S", "-o", ptx, source])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using Process clang = Process.Start(start)!;
            string errors = clang.StandardError.ReadToEnd();
            clang.WaitForExit();
            Assert.True(clang.ExitCode == 0, errors);
            string[] entries = EntryDirective().Matches(File.ReadAllText(ptx)).Select(m => m.Groups[1].Value).ToArray();
            Assert.Equal(KernelNames.All.Order(), entries.Order());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"\.entry\s+(\w+)\s*\(")]
    private static partial Regex EntryDirective();
}

/// <summary>A fact skipped when no clang is on the PATH.</summary>
public sealed class ClangFactAttribute : FactAttribute
{
    public ClangFactAttribute() => Skip = Clang is null ? "clang is not installed (needed to compile the CUDA kernel text to PTX)" : null;

    /// <summary>The first clang found on the PATH, or null.</summary>
    public static string? Clang { get; } = Find();

    private static string? Find()
    {
        string[] names = ["clang", .. Enumerable.Range(14, 8).Reverse().Select(v => $"clang-{v}")];
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string name in names)
            {
                string path = Path.Combine(dir, name);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }
        return null;
    }
}
