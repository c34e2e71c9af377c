using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// Group and grid sizes for one accelerator. The kernels are correct for any power-of-two group; the plan picks
/// sizes that are fast where they run. On a GPU: 256-thread groups for row reductions and GEMV (8 warps, a warp
/// per output feature), 16 × 16 threads for 64 × 64 GEMM tiles, 256-key attention blocks. On ILGPU's CPU
/// accelerator every group thread is an OS thread and every barrier a rendezvous of them, which costs about a
/// millisecond on two cores, so the plan uses one-thread groups there unless a test asks for more.
/// A decode step's attention splits its keys over several groups per head when a head has more than
/// <see cref="AttentionSplitKeys"/> keys, into ⌈keys ÷ <see cref="AttentionSplitKeys"/>⌉ splits (so more than half that many keys a split), up to about <see cref="AttentionGroups"/>
/// groups in all: on a GPU 64 keys and four groups per multiprocessor, since a decode step's attention is bound by
/// load latency and more groups keep more loads in flight (on an H200, one group per head over 512 keys took 33 µs
/// a 7B layer, for 16 MB its memory reads in 4 µs); on the tests' CPU "groups" accelerator small enough that the
/// tests split; never on <c>ilgpu-cpu</c>, where more groups gain nothing.
/// </summary>
internal sealed record LaunchPlan(int RowGroup, int GemmThreads, int AttentionGroup, int MaxGroups, int AttentionSplitKeys, int AttentionGroups)
{
    /// <summary>
    /// Whether the GEMM is <see cref="MatMulKernels.GemmGridStride"/> (few groups looping over the blocks) rather than
    /// <see cref="MatMulKernels.Gemm"/> (a group per block): only for <c>ilgpu-cpu</c>'s one-thread groups, whose
    /// scratch per group the CPU accelerator holds until the launch ends. A GPU, and the tests' CPU accelerators
    /// with GPU-shaped groups, run the GPU's kernel, so it meets its group sizes before it meets a GPU.
    /// </summary>
    public bool GemmGridStride => GemmThreads == 1;

    /// <summary>
    /// What the 2:4 GEMVs (<see cref="SparseKernels.TwoOfFour"/> and the fused GEMVs over <see cref="TwoOfFourRows{TV}"/>)
    /// are compiled for: groups of at most <see cref="RowGroup"/> threads, at least <see cref="TwoOfFourGroupsPerMultiprocessor"/>
    /// of them a multiprocessor. On CUDA the two become the PTX's <c>.maxntid</c> and <c>.minnctapersm</c>, which
    /// change how ptxas schedules the loads. With no bounds it keeps registers few by issuing each chunk's 16-byte
    /// value load just before the chunk's multiply-adds, so a lane has one value load in flight and waits out a
    /// memory latency per chunk. Told four groups a multiprocessor (at most 64 registers a thread), it issues a
    /// step's two value loads together first (ptxas 11.8's machine code for sm_90, checked by
    /// <c>KernelMachineCodeTests</c>). The dense GEMVs get no bounds: some of them spill under these. The CPU
    /// accelerator ignores the hint; ILGPU only checks that launches keep to the group bound.
    /// </summary>
    public KernelSpecialization TwoOfFourGemv => new(RowGroup, TwoOfFourGroupsPerMultiprocessor);

    /// <summary>
    /// Groups a multiprocessor the 2:4 GEMVs are compiled for: four 256-thread groups, 32 warps, 64 registers a
    /// thread (at five, 48 registers, ptxas spilled 4-8 bytes a thread).
    /// </summary>
    public const int TwoOfFourGroupsPerMultiprocessor = 4;

    /// <summary>Key splits for one decode row of <paramref name="heads"/> heads over <paramref name="keys"/> keys (1: no split).</summary>
    public int AttentionSplits(int heads, int keys)
    {
        if (keys <= AttentionSplitKeys)
        {
            return 1;
        }
        int byKeys = (keys + AttentionSplitKeys - 1) / AttentionSplitKeys;
        return Math.Clamp(Math.Min(byKeys, AttentionGroups / heads), 1, MaxAttentionSplits);
    }

    /// <summary>
    /// Keys a decode split takes on a GPU, rounded up to whole splits (65 keys are two splits of 33): a 256-thread
    /// group's eight teams score 64 keys in two rounds of four keys' loads, and its value pass (eight key subsets for
    /// a head of 128) reads them in two.
    /// </summary>
    public const int GpuSplitKeys = 64;

    /// <summary>Splits at most, which bounds the partial results' scratch memory.</summary>
    public const int MaxAttentionSplits = 64;

    public static LaunchPlan For(Accelerator accelerator, int? cpuThreadsPerGroup)
    {
        if (accelerator.AcceleratorType == AcceleratorType.CPU)
        {
            int group = cpuThreadsPerGroup ?? 1;
            int most = Math.Min(accelerator.MaxNumThreadsPerGroup, GroupReductions.MaxWarps * accelerator.WarpSize);
            if (group < 1 || group > most || !IsPowerOfTwo(group)
                || (group > 1 && group % accelerator.WarpSize != 0))
            {
                throw new ArgumentOutOfRangeException(nameof(cpuThreadsPerGroup),
                    FormattableString.Invariant($"ILGPU CPU groups must be 1 or a power-of-two multiple of the warp ({accelerator.WarpSize}) up to {most} ({GroupReductions.MaxWarps} warps at most), got {group}"));
            }
            return new LaunchPlan(group, FloorSqrtPowerOfTwo(group), Math.Min(group, AttentionKernel.KeyBlock), 4 * accelerator.NumMultiprocessors,
                group == 1 ? int.MaxValue : 64, 64);
        }
        return Gpu(accelerator.MaxNumThreadsPerGroup, accelerator.NumMultiprocessors, accelerator.WarpSize);
    }

    /// <summary>The plan for a GPU with these limits (a function of them alone, so tests can state a GPU's plan).</summary>
    public static LaunchPlan Gpu(int maxThreadsPerGroup, int multiprocessors, int warpSize = 32)
    {
        // 256 threads: eight warps of 32, whose partial sums GroupReductions adds in warp order. A device of narrower
        // warps (an OpenCL one may report 8, or fewer) gets no more warps a group than GroupReductions holds: a
        // 33rd warp's partial sum would be written past its shared memory.
        int rowGroup = FloorPowerOfTwo(Math.Min(Math.Min(256, maxThreadsPerGroup), GroupReductions.MaxWarps * Math.Max(1, warpSize)));
        int gemm = Math.Min(MatMulKernels.MaxTile / MatMulKernels.PerThread, FloorSqrtPowerOfTwo(rowGroup));
        return new LaunchPlan(rowGroup, gemm, Math.Min(AttentionKernel.KeyBlock, rowGroup), 64 * multiprocessors,
            GpuSplitKeys, 4 * multiprocessors);
    }

    /// <summary>Groups for a grid-stride loop over <paramref name="items"/> work items, <paramref name="perGroup"/> at a time.</summary>
    public int Groups(long items, int perGroup = 1) => (int)Math.Clamp((items + perGroup - 1) / perGroup, 1, MaxGroups);

    private static bool IsPowerOfTwo(int v) => (v & (v - 1)) == 0;

    private static int FloorPowerOfTwo(int v) => 1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)v));

    private static int FloorSqrtPowerOfTwo(int v) => 1 << ((31 - System.Numerics.BitOperations.LeadingZeroCount((uint)v)) / 2);
}
