using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// NVIDIA's PTX assembler (ptxas) and SASS disassembler (nvdisasm), found on PATH (`.ci/run` unpacks them from
/// Debian's CUDA toolkit package) or in the folder <c>COPAL_CUDA_TOOLS</c> names. They need no GPU: ptxas turns a
/// kernel's PTX into the machine code a driver would build from it, and reports its registers and spills.
/// </summary>
internal static partial class NvidiaTools
{
    public static string? Ptxas { get; } = Find("ptxas");

    public static string? Nvdisasm { get; } = Find("nvdisasm");

    public const string Missing = "NVIDIA's ptxas and nvdisasm are not installed (.ci/run unpacks them from Debian's nvidia-cuda-toolkit package; COPAL_CUDA_TOOLS may name their folder)";

    /// <summary>Assembles <paramref name="ptx"/> for <paramref name="arch"/>; the cubin is kept for <see cref="Disassemble"/>.</summary>
    public static Assembled Assemble(string ptx, string arch = "sm_90")
    {
        using var dir = new TempDir("copal-ptxas-");
        string source = dir.File("kernel.ptx"), cubin = dir.File("kernel.cubin");
        File.WriteAllText(source, ptx);
        (int exit, string output) = ExternalTools.Run(Ptxas ?? throw new InvalidOperationException(Missing), "-v", $"-arch={arch}", source, "-o", cubin);
        byte[] machineCode = exit == 0 ? File.ReadAllBytes(cubin) : [];
        return new Assembled(exit, output, machineCode);
    }

    /// <summary>The SASS of an assembled kernel, one instruction a line.</summary>
    public static string Disassemble(Assembled assembled)
    {
        using var dir = new TempDir("copal-nvdisasm-");
        string cubin = dir.File("kernel.cubin");
        File.WriteAllBytes(cubin, assembled.MachineCode);
        (int exit, string output) = ExternalTools.Run(Nvdisasm ?? throw new InvalidOperationException(Missing), "-c", cubin);
        return exit == 0 ? output : throw new InvalidOperationException($"nvdisasm failed ({exit}): {output}");
    }

    /// <summary>SASS instructions whose opcode (predicate aside) starts with <paramref name="opcode"/>.</summary>
    public static int Count(string sass, string opcode) =>
        sass.Split('\n').Count(line => Instruction().Match(line) is { Success: true } m && m.Groups[1].Value.StartsWith(opcode, StringComparison.Ordinal));

    private static string? Find(string tool) => ExternalTools.Find(tool, Environment.GetEnvironmentVariable("COPAL_CUDA_TOOLS"));

    // "/*0040*/  @!P0 LDG.E.128 R4, desc[UR4][R2.64] ;" → "LDG.E.128"
    [GeneratedRegex(@"^\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P[0-9T]+\s+)?([A-Z][A-Z0-9_.]*)")]
    private static partial Regex Instruction();

    /// <summary>ptxas's verdict on one kernel: exit code, its report (-v), and the cubin when it succeeded.</summary>
    public sealed partial record Assembled(int Exit, string Report, byte[] MachineCode)
    {
        public int Registers => Field(Used(), "registers");

        public int SpillStores => Field(SpillStore(), "spill stores");

        public int SpillLoads => Field(SpillLoad(), "spill loads");

        public int StackFrame => Field(Stack(), "stack frame");

        private int Field(Regex pattern, string what) => pattern.Match(Report) is { Success: true } m
            ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"ptxas's report has no {what}: {Report}");

        [GeneratedRegex(@"Used (\d+) registers")]
        private static partial Regex Used();

        [GeneratedRegex(@"(\d+) bytes spill stores")]
        private static partial Regex SpillStore();

        [GeneratedRegex(@"(\d+) bytes spill loads")]
        private static partial Regex SpillLoad();

        [GeneratedRegex(@"(\d+) bytes stack frame")]
        private static partial Regex Stack();
    }
}

/// <summary>A theory that needs <see cref="NvidiaTools"/>: skipped, with the reason, where they are not installed.</summary>
public sealed class NvidiaToolsTheoryAttribute : TheoryAttribute
{
    public NvidiaToolsTheoryAttribute()
    {
        if (NvidiaTools.Ptxas is null || NvidiaTools.Nvdisasm is null)
        {
            Skip = NvidiaTools.Missing;
        }
    }
}
