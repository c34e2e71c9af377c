using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>The GPU plan's decode-attention split, on the shapes of the device check (no GPU needed: it is arithmetic).</summary>
public sealed class LaunchPlanTests
{
    /// <summary>An H100/H200 plan: 132 multiprocessors, 256-thread groups, splits of at least 512 keys.</summary>
    private static readonly LaunchPlan Hopper = new(256, 16, 256, 64 * 132, 512, 2 * 132);

    [Theory]
    [InlineData(32, 512, 1)]    // a short context stays one group per head
    [InlineData(32, 577, 2)]    // the device check's decode (prefill 512, then 64 tokens): two groups per head
    [InlineData(32, 4096, 8)]   // 4k context: 256 groups on 132 SMs
    [InlineData(32, 131072, 8)] // never more than about two groups per SM in all
    [InlineData(8, 131072, 33)]
    [InlineData(1, 131072, 64)] // and never more than the scratch allows
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
}
