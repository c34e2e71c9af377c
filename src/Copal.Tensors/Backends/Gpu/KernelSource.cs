using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Copal.Tensors.Backends.Gpu;

/// <summary>
/// The device kernel sources, embedded in this assembly: one set of OpenCL C 1.2 files written against a small
/// prelude of macros, composed with <c>prelude_opencl.h</c> for OpenCL and <c>prelude_cuda.h</c> for NVRTC.
/// </summary>
internal static partial class KernelSource
{
    /// <summary>Kernel files in the order they are concatenated; common.cl first since the others use its helpers.</summary>
    public static readonly string[] Files =
        ["common.cl", "matmul.cl", "sparse.cl", "elementwise.cl", "embedding.cl", "norm.cl", "rope.cl", "attention.cl", "statistics.cl"];

    public const string OpenCLPrelude = "prelude_opencl.h";
    public const string CudaPrelude = "prelude_cuda.h";

    private static readonly Lazy<string> s_openCL = new(() => Compose(OpenCLPrelude));
    private static readonly Lazy<string> s_cuda = new(() => Compose(CudaPrelude));

    /// <summary>The complete program text OpenCL compiles.</summary>
    public static string OpenCL => s_openCL.Value;

    /// <summary>The complete program text NVRTC compiles: the same kernel files behind the CUDA prelude.</summary>
    public static string Cuda => s_cuda.Value;

    /// <summary>The text of one embedded file (a prelude or a kernel file).</summary>
    public static string Read(string file)
    {
        using Stream stream = typeof(KernelSource).Assembly.GetManifestResourceStream("Copal.Kernels." + file)
            ?? throw new FileNotFoundException($"kernel source '{file}' is not embedded in {typeof(KernelSource).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Prelude followed by every kernel file. <c>#line</c> markers make compiler messages name the original file
    /// and line, which both OpenCL C and NVRTC honour.
    /// </summary>
    public static string Compose(string prelude)
    {
        var text = new StringBuilder();
        foreach (string file in (string[])[prelude, .. Files])
        {
            text.Append("#line 1 \"").Append(file).Append("\"\n");
            text.Append(Read(file).Replace("\r\n", "\n", StringComparison.Ordinal));
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>Names of the entry points (<c>KERNEL void name(</c>) in a source text, in order of appearance.</summary>
    public static IReadOnlyList<string> EntryPoints(string source) =>
        EntryPointPattern().Matches(source).Select(m => m.Groups[1].Value).ToArray();

    /// <summary>Hex SHA-256 of a text's UTF-8 bytes; the cache key part that changes with any source edit.</summary>
    public static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [GeneratedRegex(@"\bKERNEL\s+void\s+(\w+)\s*\(")]
    private static partial Regex EntryPointPattern();
}
