using System.Text.RegularExpressions;
using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// The kernel text NVRTC would get cannot be compiled here (no CUDA), so these check what makes it well-formed:
/// kernels use only prelude names, both preludes define the same names, and every entry point is declared through
/// the KERNEL macro, which the CUDA prelude maps to an unmangled extern "C" __global__ function.
/// </summary>
public partial class KernelSourceTests
{
    [Fact]
    public void Every_kernel_id_has_exactly_one_entry_point_in_the_sources()
    {
        IReadOnlyList<string> entryPoints = KernelSource.EntryPoints(KernelSource.OpenCL);
        Assert.Equal(KernelNames.All.Order(), entryPoints.Order());
        Assert.Equal(Enum.GetValues<KernelId>().Length, KernelNames.All.Length);
    }

    [Fact]
    public void The_cuda_program_holds_the_same_kernel_text_behind_the_cuda_prelude()
    {
        string cuda = KernelSource.Cuda;
        Assert.StartsWith("#line 1 \"prelude_cuda.h\"", cuda, StringComparison.Ordinal);
        Assert.Equal(KernelSource.EntryPoints(KernelSource.OpenCL), KernelSource.EntryPoints(cuda));
        foreach (string file in KernelSource.Files)
        {
            Assert.Contains(KernelSource.Read(file).Replace("\r\n", "\n", StringComparison.Ordinal), cuda, StringComparison.Ordinal);
        }
        Assert.Matches(@"#define KERNEL extern ""C"" __global__", cuda);
        Assert.DoesNotContain("#include", cuda, StringComparison.Ordinal);   // NVRTC gets no include paths
    }

    [Fact]
    public void Both_preludes_define_the_same_names()
    {
        Assert.Equal(Defined(KernelSource.OpenCLPrelude), Defined(KernelSource.CudaPrelude));
    }

    [Theory]
    [MemberData(nameof(KernelFiles))]
    public void Kernel_files_use_no_api_specific_names(string file)
    {
        string text = StripComments(KernelSource.Read(file));
        string[] forbidden =
        [
            "__kernel", "__global", "__local", "__constant", "get_global_id", "get_local_id", "get_group_id", "get_local_size",
            "get_num_groups", "barrier", "vload_half", "as_float", "__syncthreads", "threadIdx", "blockIdx", "blockDim",
            "__shared__", "__device__", "__global__", "half",
        ];
        foreach (string name in forbidden)
        {
            Assert.False(Regex.IsMatch(text, $@"\b{name}\b"), $"{file} uses '{name}'; use the prelude's macro instead");
        }
        // Unsuffixed math calls mean double on CUDA and differ in name between the APIs: only the prelude's macros.
        Match math = MathCall().Match(text);
        Assert.False(math.Success, $"{file} calls '{math.Value}'; use EXP, SQRT, FMAX or IMIN");
        // A double literal is a double operation on CUDA (and needs fp64 on OpenCL).
        Match literal = DoubleLiteral().Match(text);
        Assert.False(literal.Success, $"{file} has the double literal '{literal.Value}'; write it with an f suffix");
    }

    public static TheoryData<string> KernelFiles() => new(KernelSource.Files);

    private static SortedSet<string> Defined(string prelude)
    {
        string text = StripComments(KernelSource.Read(prelude));
        var names = new SortedSet<string>(DefineName().Matches(text).Select(m => m.Groups[1].Value));
        names.UnionWith(TypedefName().Matches(text).Select(m => m.Groups[1].Value));
        // Each prelude's own marker, and CUDA's spelling of OpenCL's built-in unsigned types, are not shared names.
        names.ExceptWith(["COPAL_OPENCL", "COPAL_CUDA", "uint", "ushort", "uchar"]);
        return names;
    }

    private static string StripComments(string text) => Comment().Replace(text, " ");

    [GeneratedRegex(@"^\s*#define\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex DefineName();

    [GeneratedRegex(@"typedef\s+[\w\s]+?\s(\w+)\s*;")]
    private static partial Regex TypedefName();

    [GeneratedRegex(@"/\*.*?\*/|//[^\n]*", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"\b(exp|expf|sqrt|sqrtf|rsqrt|fmax|fmaxf|fmin|min|max|log|pow|native_\w+)\s*\(")]
    private static partial Regex MathCall();

    [GeneratedRegex(@"(?<![\w.])\d+\.\d*(?:[eE][+-]?\d+)?(?![\d.eEf])")]
    private static partial Regex DoubleLiteral();
}
