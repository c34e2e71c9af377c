using System.Collections.Concurrent;
using System.Reflection;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Backends.Ilgpu.Kernels;
using Copal.Testing;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// Every kernel through ILGPU's PTX (CUDA) and OpenCL C code generators, with no device. The op tests run the
/// kernels on ILGPU's CPU accelerator, which executes IL and never meets these generators; a construct only the GPU
/// backends reject (an unsupported intrinsic, say) would otherwise first fail on a lent GPU machine, where every
/// minute counts. PTX is generated for Hopper (SM 9.0, the H100/H200 the device check runs on), OpenCL C for 2.0.
/// </summary>
public sealed class KernelCodegenTests
{
    private static readonly Assembly Kernels = typeof(MatMulKernels).Assembly;

    /// <summary>
    /// Every kernel entry point: the public static void methods of the kernel classes, generic ones once per weight
    /// view (the helpers kernels call are internal or private).
    /// </summary>
    public static TheoryData<string> EntryPoints()
    {
        var data = new TheoryData<string>();
        foreach (string name in EntryPointMethods().Keys)
        {
            data.Add(name);
        }
        return data;
    }

    [Fact]
    public void Every_kernel_the_backend_loads_is_covered()
    {
        string[] expected = ["Gemv", "Gemm", "GemmGridStride", "Embedding", "AddBias", "SiluMul", "GeluTanhMul", "Add", "Rope", "RmsNorm", "Softmax", "Attention", "AttentionSplit", "AttentionCombine", "Gram", "ColumnSquares", "NM", "TwoOfFour", "Bitmask", "Hold", "StreamRead", "AddRmsNorm", "RopeAndStore", "GemvTriple", "GemvSiluGate"];
        string[] found = EntryPointMethods().Values.Select(m => m.Name).Distinct().ToArray();
        Assert.Empty(expected.Except(found));
        Assert.Contains("MatMulKernels.Gemm<TwoOfFourView<Bf16Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.Gemm<NMView<Bf16Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.Gemm<BitmaskView<F32Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.GemvTriple<TwoOfFourRows<Bf16Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.GemvSiluGate<DenseRows<F16Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.GemvTriple<NMRows<Bf16Weights>>", EntryPointMethods().Keys);
        Assert.Contains("MatMulKernels.GemvSiluGate<BitmaskRows<F32Weights>>", EntryPointMethods().Keys);
        // One GEMV per plain dtype view (F32, BF16, F16); the sparse views over them add their own.
        Assert.Equal(3, EntryPointMethods().Keys.Count(k => k.StartsWith("MatMulKernels.Gemv<", StringComparison.Ordinal) && !k.Contains("View<", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void Kernel_compiles_to_ptx_for_hopper(string kernel)
    {
        string ptx = Ptx(kernel);
        Assert.Contains(".entry", ptx, StringComparison.Ordinal);
        // Local memory is per-thread stack in DRAM: a kernel that needs it spills or indexes a private array.
        Assert.DoesNotContain(".local", ptx, StringComparison.Ordinal);
    }

    /// <summary>
    /// The matmul kernels' speed rests on 16-byte loads: the GEMV's and the 2:4 kernel's weight and x loads (four a
    /// lane issued together), the GEMM's shared-memory reads in its inner loop; so does decode attention's (four keys'
    /// quads a thread). ILGPU emits ld.v4 only for a struct
    /// of four 32-bit fields, which a refactoring could lose without any result changing.
    /// </summary>
    [Theory]
    [InlineData("MatMulKernels.Gemv<Bf16Weights>", 4)]
    [InlineData("MatMulKernels.GemvTriple<DenseRows<Bf16Weights>>", 12)]  // three weights' GEMVs
    [InlineData("MatMulKernels.GemvSiluGate<DenseRows<Bf16Weights>>", 8)]
    [InlineData("MatMulKernels.GemvTriple<TwoOfFourRows<Bf16Weights>>", 24)]
    [InlineData("MatMulKernels.GemvSiluGate<TwoOfFourRows<Bf16Weights>>", 16)]
    [InlineData("SparseKernels.TwoOfFour<Bf16Weights>", 8)]
    [InlineData("MatMulKernels.Gemm<Bf16Weights>", 2)]
    [InlineData("AttentionQuadsKernels.Attention", 8)]
    [InlineData("AttentionQuadsKernels.AttentionSplit", 8)]
    public void Matmul_kernels_keep_their_16_byte_loads(string kernel, int atLeast)
    {
        int vectorLoads = Ptx(kernel).Split('\n').Select(line => line.TrimStart()).Count(line => line.StartsWith("ld.", StringComparison.Ordinal) && line.Contains(".v4.", StringComparison.Ordinal));
        Assert.True(vectorLoads >= atLeast, $"{kernel}: {vectorLoads} 16-byte loads in its PTX, expected at least {atLeast}");
    }

    /// <summary>
    /// F16 weights decode with selects, not branches: the F16 GEMV's PTX may branch no more than the BF16 one's,
    /// whose decode is a shift (per half, branches made it about 50 KB).
    /// </summary>
    [Fact]
    public void F16_gemv_decodes_halves_without_branches()
    {
        static int Branches(string ptx) => ptx.Split('\n').Count(line => line.TrimStart().StartsWith("@", StringComparison.Ordinal) || line.TrimStart().StartsWith("bra", StringComparison.Ordinal));
        int f16 = Branches(Ptx("MatMulKernels.Gemv<F16Weights>")), bf16 = Branches(Ptx("MatMulKernels.Gemv<Bf16Weights>"));
        Assert.True(f16 <= bf16, $"F16 GEMV: {f16} branch instructions in its PTX, BF16 GEMV: {bf16}");
    }

    /// <summary>
    /// The device timer's hold must keep the device busy for as many steps as it is asked: its loop of dependent
    /// multiply-adds has to survive into the PTX (ptxas gets a loop it cannot close: the coefficients are arguments).
    /// </summary>
    [Fact]
    public void The_hold_kernel_keeps_its_loop()
    {
        string ptx = Ptx("HoldKernel.Hold");
        Assert.Contains("bra", ptx, StringComparison.Ordinal);
        Assert.True(ptx.Contains("fma.rn.f32", StringComparison.Ordinal) || ptx.Contains("mul.f32", StringComparison.Ordinal), ptx);
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void Kernel_compiles_to_opencl_c(string kernel)
    {
        Assert.Contains("kernel", OpenCLSource(kernel), StringComparison.Ordinal);
    }

    /// <summary>
    /// ILGPU's OpenCL C through a real OpenCL C 2.0 compiler: clang's front end, down to SPIR LLVM IR, with no device
    /// and no OpenCL runtime. An AMD or Intel driver compiles this very source when the backend loads; no such GPU
    /// has been lent, and ILGPU refuses PoCL, so without this the source would first meet a compiler there. No
    /// warning is allowed either.
    /// </summary>
    [ClangTheory]
    [MemberData(nameof(EntryPoints))]
    public void Kernel_opencl_c_compiles_with_clang(string kernel)
    {
        using var dir = new TempDir("copal-clang-");
        string source = dir.File("kernel.cl");
        File.WriteAllText(source, OpenCLSource(kernel));
        (int exit, string output) = ExternalTools.Run(Clang!, "-x", "cl", "-cl-std=CL2.0", "-Xclang", "-finclude-default-header",
            "-target", "spir64", "-emit-llvm", "-c", source, "-o", dir.File("kernel.bc"));
        Assert.True(exit == 0 && output.Length == 0, $"{kernel}: clang exited with {exit}: {output}");
    }

    /// <summary>clang with an OpenCL C front end (Debian's clang-14 on this project's machines), or null.</summary>
    internal static string? Clang { get; } = ExternalTools.Find(["clang-14", "clang"]);

    /// <summary>
    /// The kernel's OpenCL C 2.0 source, from a context of its own. ILGPU writes the same source for AMD, Intel and
    /// NVIDIA devices (checked for every kernel on 2026-12-03); AMD's and Intel's drivers are the ones it accepts.
    /// </summary>
    internal static string OpenCLSource(string kernel, CLDeviceVendor vendor = CLDeviceVendor.AMD) => Generated(kernel, $"OpenCL C 2.0 {vendor}", () =>
    {
        using Context context = Context.Create(b => b.EnableAlgorithms());
        var capabilities = new CLCapabilityContext(float16: false, float64: true, genericAddressSpace: true, int64_Atomics: true, subGroups: true);
        using var backend = new CLBackend(context, capabilities, vendor, CLCVersion.CL20);
        return ((CLCompiledKernel)backend.Compile(Entry(kernel), Specialization(kernel))).Source;
    });

    /// <summary>The kernel's PTX for Hopper in the newest PTX ISA ILGPU knows (8.8), which a current driver gets.</summary>
    private static string Ptx(string kernel) => Ptx(kernel, CudaInstructionSet.ISA_88);

    /// <summary>The kernel's PTX for Hopper in PTX ISA <paramref name="isa"/>, from a context of its own (a failed compile spoils its context).</summary>
    internal static string Ptx(string kernel, CudaInstructionSet isa) => Generated(kernel, $"PTX {isa}", () =>
    {
        using Context context = Context.Create(b => b.EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, isa, nvvmAPI: null);
        return ((PTXCompiledKernel)backend.Compile(Entry(kernel), Specialization(kernel))).PTXAssembly;
    });

    /// <summary>
    /// Each kernel's code for each target, generated once a test run: the codegen, clang and machine-code tests read
    /// the same PTX and OpenCL C, and a fresh context a compile costs about a second on the CI machine. A failed
    /// compile is kept too, so every test of that code fails with its exception.
    /// </summary>
    private static readonly ConcurrentDictionary<(string Kernel, string Target), Lazy<string>> s_generated = new();

    private static string Generated(string kernel, string target, Func<string> compile) =>
        s_generated.GetOrAdd((kernel, target), _ => new Lazy<string>(compile)).Value;

    /// <summary>
    /// What the backend compiles <paramref name="kernel"/> with on a GPU (KernelSet): the 2:4 GEMVs, the single one over
    /// plain values and the fused ones over the 2:4 row reader, get the launch plan's group bounds (<see cref="LaunchPlan.TwoOfFourGemv"/>,
    /// which steer ptxas's scheduling), every other kernel none.
    /// </summary>
    internal static KernelSpecialization Specialization(string kernel) =>
        (kernel.StartsWith("SparseKernels.TwoOfFour<", StringComparison.Ordinal) && !kernel.Contains("View<", StringComparison.Ordinal))
            || kernel.Contains("<TwoOfFourRows<", StringComparison.Ordinal)
            ? LaunchPlan.Gpu(maxThreadsPerGroup: 1024, multiprocessors: 132).TwoOfFourGemv
            : KernelSpecialization.Empty;

    private static EntryPointDescription Entry(string kernel)
    {
        MethodInfo method = EntryPointMethods()[kernel];
        // Kernels whose first parameter is an index are launched implicitly grouped (LoadAutoGroupedStreamKernel).
        return method.GetParameters()[0].ParameterType.Name.StartsWith("Index", StringComparison.Ordinal)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
    }

    private static Dictionary<string, MethodInfo> EntryPointMethods()
    {
        const string space = "Copal.Tensors.Backends.Ilgpu.Kernels";
        Type[] types = Kernels.GetTypes().Where(t => t.Namespace == space).ToArray();
        Type[] dense = types.Where(t => t.IsValueType && !t.IsGenericTypeDefinition && typeof(IWeightView).IsAssignableFrom(t)).OrderBy(t => t.Name).ToArray();
        // Views over views (the 2:4 view over its value dtype) close over every plain view.
        Type[] views = [.. dense, .. types.Where(t => t.IsValueType && t.IsGenericTypeDefinition && t.GetInterfaces().Any(i => i == typeof(IWeightView)))
            .SelectMany(g => dense.Select(v => g.MakeGenericType(v)))];
        // The fused decode kernels are generic over a row reader (IRowDot) instead: each reader over every plain view.
        Type[] rowDots = [.. types.Where(t => t.IsValueType && t.IsGenericTypeDefinition && t.GetInterfaces().Any(i => i == typeof(IRowDot)))
            .SelectMany(g => dense.Select(v => g.MakeGenericType(v)))];
        var methods = new Dictionary<string, MethodInfo>();
        foreach (Type type in types.Where(t => t.IsAbstract && t.IsSealed))
        {
            foreach (MethodInfo m in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly).Where(m => m.ReturnType == typeof(void)))
            {
                if (m.IsGenericMethodDefinition)
                {
                    bool readsRows = m.GetGenericArguments()[0].GetGenericParameterConstraints().Contains(typeof(IRowDot));
                    foreach (Type view in readsRows ? rowDots : views)
                    {
                        methods[$"{type.Name}.{m.Name}<{ViewName(view)}>"] = m.MakeGenericMethod(view);
                    }
                }
                else
                {
                    methods[$"{type.Name}.{m.Name}"] = m;
                }
            }
        }
        return methods;
    }

    private static string ViewName(Type view) => view.IsGenericType
        ? $"{view.Name[..view.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(",", view.GetGenericArguments().Select(ViewName))}>"
        : view.Name;
}

/// <summary>A theory that needs clang (<see cref="KernelCodegenTests.Clang"/>): skipped, with the reason, without it.</summary>
public sealed class ClangTheoryAttribute : TheoryAttribute
{
    public ClangTheoryAttribute()
    {
        if (KernelCodegenTests.Clang is null)
        {
            Skip = "clang (with its OpenCL C front end) is not installed; Debian's clang-14 package has it";
        }
    }
}
