using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Group-wide sum and maximum that skip the reduction in a one-thread group, whose value is its own. ILGPU's CPU
/// accelerator has no one-lane warp (it refuses numThreadsPerWarp 1), so the one-thread groups of
/// <c>--device ilgpu-cpu</c> run in two-lane warps with the second lane idle, and there ILGPU.Algorithms' group
/// reduction now and then added a stale value: in a stress test of fresh backends, 3 of about 1,400 gave RmsNorm
/// 1.1901 for 1.1920, or bitmask MatMul sums all off by the same amount (+0.1394 in both shapes of one backend,
/// −0.4077 in another), as if the idle lane held a leftover. Kernels pass their group size, read once.
/// </summary>
internal static class GroupReductions
{
    internal static float Sum(float value, int groupSize) =>
        groupSize == 1 ? value : GroupExtensions.AllReduce<float, AddFloat>(value);

    internal static float Max(float value, int groupSize) =>
        groupSize == 1 ? value : GroupExtensions.AllReduce<float, MaxFloat>(value);
}
