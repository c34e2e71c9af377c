using System.Text.RegularExpressions;
using ILGPU.Runtime.Cuda;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// Every kernel's PTX through NVIDIA's own assembler for Hopper (sm_90), with no GPU: what a CUDA driver would build
/// from it. <see cref="KernelCodegenTests"/> shows ILGPU can write each kernel's PTX; only ptxas shows the PTX is
/// valid, and what it costs in registers and spills. The SASS checks hold the properties the kernels' speed rests
/// on in the machine code that runs, not just in the PTX.
/// </summary>
public sealed class KernelMachineCodeTests
{
    /// <summary>
    /// Kernels of the decode and prefill paths the device check measures. At most 64 registers a thread lets a
    /// Hopper multiprocessor (65,536 registers) hold four 256-thread groups, 32 warps: a memory-bound GEMV needs
    /// that many loads in flight, and a 512-token prefill of a 7B layer is about four GEMM groups per multiprocessor.
    /// Not the F16 GEMV: decoding six octets of halves in flight takes it to 69, so three groups, whose 24 warps
    /// still keep more bytes in flight (3 KB each) than four groups did at four octets a lane (2 KB).
    /// </summary>
    private static readonly string[] HotKernels =
    [
        "MatMulKernels.Gemv<F32Weights>", "MatMulKernels.Gemv<Bf16Weights>",
        "MatMulKernels.GemvTriple<DenseRows<Bf16Weights>>", "MatMulKernels.GemvSiluGate<DenseRows<Bf16Weights>>",
        "MatMulKernels.GemvTriple<TwoOfFourRows<Bf16Weights>>", "MatMulKernels.GemvSiluGate<TwoOfFourRows<Bf16Weights>>",
        "SparseKernels.TwoOfFour<Bf16Weights>",
        "MatMulKernels.Gemm<F32Weights>", "MatMulKernels.Gemm<Bf16Weights>", "MatMulKernels.Gemm<F16Weights>",
        "MatMulKernels.Gemm<TwoOfFourView<Bf16Weights>>",
        "AttentionQuadsKernels.Attention", "AttentionQuadsKernels.AttentionSplit",
        "NormKernels.AddRmsNorm", "ElementwiseKernels.RopeAndStore",
        "MemoryReadKernel.StreamRead", // bench's measure of the device's read rate, decode's ceiling
    ];

    public static TheoryData<string> EntryPoints() => KernelCodegenTests.EntryPoints();

    [Fact]
    public void The_hot_kernels_are_entry_points()
    {
        Assert.Empty(HotKernels.Except(EntryPoints()));
    }

    /// <summary>
    /// The PTX is written for PTX ISA 7.8, the oldest that knows sm_90, so any ptxas from CUDA 11.8 on takes it; the
    /// test first checks ILGPU writes the same kernel body for the newest ISA it knows (8.8), which a current driver
    /// gets. Then: no spills and no stack (per-thread memory in DRAM), and the hot kernels' register budget.
    /// </summary>
    [NvidiaToolsTheory]
    [MemberData(nameof(EntryPoints))]
    public void Kernel_assembles_for_hopper_without_spills(string kernel)
    {
        string ptx = KernelCodegenTests.Ptx(kernel, CudaInstructionSet.ISA_78);
        Assert.Equal(Body(KernelCodegenTests.Ptx(kernel, CudaInstructionSet.ISA_88)), Body(ptx));

        NvidiaTools.Assembled assembled = NvidiaTools.Assemble(ptx);
        Assert.True(assembled.Exit == 0, $"{kernel}: ptxas exited with {assembled.Exit}: {assembled.Report}");
        Assert.True(assembled.SpillStores == 0 && assembled.SpillLoads == 0 && assembled.StackFrame == 0, $"{kernel}: {assembled.Report}");
        if (HotKernels.Contains(kernel))
        {
            Assert.True(assembled.Registers <= 64, $"{kernel}: {assembled.Registers} registers a thread, more than the 64 that four 256-thread groups a multiprocessor allow");
        }
    }

    /// <summary>
    /// The GEMM's inner loop over a 16-deep tile is 16 × 16 multiply-adds a thread, fully unrolled by ptxas only
    /// while its trip count is a constant it can see; a rolled loop pays a branch and index arithmetic every step.
    /// Its shared-memory reads stay 16 bytes wide: two a depth.
    /// </summary>
    [NvidiaToolsTheory]
    [InlineData("MatMulKernels.Gemm<Bf16Weights>")]
    [InlineData("MatMulKernels.Gemm<F32Weights>")]
    [InlineData("MatMulKernels.Gemm<TwoOfFourView<Bf16Weights>>")]
    public void Gemm_inner_loop_is_unrolled_in_the_machine_code(string kernel)
    {
        string sass = Sass(kernel);
        Assert.True(NvidiaTools.Count(sass, "FFMA") >= MatMulKernelsTile, $"{kernel}: {NvidiaTools.Count(sass, "FFMA")} FFMA in its SASS, expected at least {MatMulKernelsTile}");
        Assert.True(NvidiaTools.Count(sass, "LDS.128") >= 32, $"{kernel}: {NvidiaTools.Count(sass, "LDS.128")} 16-byte shared loads in its SASS, expected at least 32");
    }

    /// <summary>
    /// The decode GEMVs' 16-byte weight and x loads survive into the machine code (LD.E.128 or LDG.E.128), and so do
    /// those of the streaming read that bench sets decode against.
    /// </summary>
    [NvidiaToolsTheory]
    [InlineData("MatMulKernels.Gemv<Bf16Weights>", 4)]
    [InlineData("MatMulKernels.GemvTriple<DenseRows<Bf16Weights>>", 12)]
    [InlineData("SparseKernels.TwoOfFour<Bf16Weights>", 8)]
    [InlineData("MemoryReadKernel.StreamRead", 5)]
    public void Decode_loads_are_16_bytes_wide_in_the_machine_code(string kernel, int atLeast)
    {
        string sass = Sass(kernel);
        int wide = NvidiaTools.Count(sass, "LD.E.128") + NvidiaTools.Count(sass, "LDG.E.128");
        Assert.True(wide >= atLeast, $"{kernel}: {wide} 16-byte global loads in its SASS, expected at least {atLeast}");
    }

    /// <summary>
    /// A 2:4 GEMV lane's step reads two chunks: two 16-byte value loads and eight 16-byte x quads. The machine code
    /// must issue all ten before the step's first multiply-add, so the two value loads wait out one memory latency
    /// together. Compiled without group bounds (<c>LaunchPlan.TwoOfFourGemv</c>), ptxas issued each value load just
    /// before its chunk's multiply-adds: three or four 16-byte loads came before the first FFMA.
    /// </summary>
    [NvidiaToolsTheory]
    [InlineData("SparseKernels.TwoOfFour<Bf16Weights>")]
    [InlineData("MatMulKernels.GemvSiluGate<TwoOfFourRows<Bf16Weights>>")]
    [InlineData("MatMulKernels.GemvTriple<TwoOfFourRows<Bf16Weights>>")]
    public void Two_of_four_gemv_issues_a_steps_loads_before_its_arithmetic(string kernel)
    {
        int before = Regex.Matches(Sass(kernel), @"\b(?:LDG?\.E\.128|FFMA)\b").TakeWhile(m => m.Value != "FFMA").Count();
        Assert.True(before >= 10, $"{kernel}: {before} 16-byte loads before the first FFMA in its SASS, expected the step's 10");
    }

    /// <summary>16 depths × a thread's 4 × 4 outputs.</summary>
    private const int MatMulKernelsTile = 256;

    private static string Sass(string kernel)
    {
        NvidiaTools.Assembled assembled = NvidiaTools.Assemble(KernelCodegenTests.Ptx(kernel, CudaInstructionSet.ISA_78));
        Assert.True(assembled.Exit == 0, $"{kernel}: ptxas exited with {assembled.Exit}: {assembled.Report}");
        return NvidiaTools.Disassemble(assembled);
    }

    /// <summary>
    /// The PTX after its header (the .version, .target and .address_size lines). ILGPU numbers labels and parameter
    /// names from a process-wide counter, so each number is renamed by its order of first appearance.
    /// </summary>
    private static string Body(string ptx)
    {
        var names = new Dictionary<string, string>();
        return Regex.Replace(ptx[ptx.IndexOf(".address_size", StringComparison.Ordinal)..], @"_\d+\b",
            m => names.TryGetValue(m.Value, out string? name) ? name : names[m.Value] = $"_#{names.Count}");
    }
}
