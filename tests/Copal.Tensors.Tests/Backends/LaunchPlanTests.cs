using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>The GPU plan's decode-attention split, on the shapes of the device check (no GPU needed: it is arithmetic).</summary>
public sealed class LaunchPlanTests
{
    /// <summary>An H100/H200 plan: 132 multiprocessors, up to 1,024 threads a group.</summary>
    private static readonly LaunchPlan Hopper = LaunchPlan.Gpu(1024, 132);

    [Theory]
    [InlineData(32, 64, 1)]     // a short context stays one group per head
    [InlineData(32, 65, 2)]     // past 64 keys a head splits, into ⌈keys ÷ 64⌉ splits (here two of 33)
    [InlineData(32, 577, 10)]   // the device check's decode (prefill 512, then 64 tokens): 320 groups on 132 SMs
    [InlineData(32, 4096, 16)]  // never more than about four groups per SM in all
    [InlineData(32, 131072, 16)]
    [InlineData(8, 131072, 64)] // and never more than the scratch allows
    [InlineData(1, 131072, 64)]
    public void Decode_attention_splits_long_contexts_over_the_multiprocessors(int heads, int keys, int splits)
    {
        Assert.Equal(splits, Hopper.AttentionSplits(heads, keys));
    }

    /// <summary>
    /// Only ilgpu-cpu's one-thread groups loop over the GEMM's blocks; a GPU and the tests' GPU-shaped CPU groups run
    /// the GPU's kernel, a group per block, so the tests cover both.
    /// </summary>
    [Theory]
    [InlineData(1, true)]
    [InlineData(16, false)]
    [InlineData(256, false)]
    public void Only_one_thread_groups_take_the_grid_stride_gemm(int threadsPerGroup, bool gridStride)
    {
        using IlgpuBackend backend = IlgpuDevices.OpenCpu(threadsPerGroup, threadsPerGroup == 256 ? 32 : 4);
        Assert.Equal(gridStride, backend.Plan.GemmGridStride);
        Assert.False(Hopper.GemmGridStride);
    }

    /// <summary>
    /// The group reductions hold 32 warps' partial results in shared memory. A CPU group of more warps is refused: 64
    /// two-lane warps wrote past it ("Index out of range" in every group thread, which aborted the test host), as a
    /// GPU's would write past its shared memory. A device of warps narrower than 32 gets groups of 32 warps at most.
    /// </summary>
    [Fact]
    public void No_group_has_more_warps_than_the_group_reductions_hold()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuDevices.OpenCpu(threadsPerGroup: 128, threadsPerWarp: 2));
        Assert.Contains("up to 64 (32 warps at most), got 128", e.Message, StringComparison.Ordinal);
        Assert.Equal(128, LaunchPlan.Gpu(1024, 132, warpSize: 4).RowGroup);
        Assert.Equal(256, LaunchPlan.Gpu(1024, 132, warpSize: 8).RowGroup);
        Assert.Equal(256, Hopper.RowGroup);
    }
}
