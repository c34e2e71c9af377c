using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Group-wide sum and maximum, the same value in every thread: each warp reduces with ILGPU.Algorithms' warp
/// shuffles, then every thread adds up the warps' partial results from shared memory in warp order.
/// <para>
/// Not ILGPU.Algorithms' group reduction: it meets the warps' results with atomic updates of shared memory, and
/// where an atomic is a compare-and-swap loop (float adds and maxima on ILGPU's CPU accelerator; a float maximum on
/// any device without an atomic float-maximum instruction) that loop never ends on NaN, which equals nothing, itself
/// included. A NaN activation hung the launch
/// (a softmax or an RMSNorm row with one NaN, tested on the CPU accelerator's groups); now it gives NaN, as the CPU
/// backend does. A maximum takes NaN by hand: a GPU's max instruction returns the other operand of a NaN. Adding the
/// warps' results in a fixed order also makes every group's sum the same from run to run, whatever order the warps
/// finish in.
/// </para>
/// <para>
/// A one-thread group returns its own value: ILGPU's CPU accelerator has no one-lane warp (it refuses
/// numThreadsPerWarp 1), so the one-thread groups of <c>--device ilgpu-cpu</c> run in two-lane warps with the second
/// lane idle, and there a reduction now and then added a stale value (3 of about 1,400 fresh backends in a stress
/// test). Kernels pass their group size, read once; it is 1 or a multiple of the warp (<see cref="LaunchPlan"/>).
/// </para>
/// </summary>
internal static class GroupReductions
{
    /// <summary>Warps of the largest group a device allows (1,024 threads of 32).</summary>
    private const int MaxWarps = 32;

    internal static float Sum(float value, int groupSize)
    {
        if (groupSize == 1)
        {
            return value;
        }
        ArrayView<float> partials = SharedMemory.Allocate<float>(MaxWarps);
        float warpSum = WarpExtensions.Reduce<float, AddFloat>(value);
        if (Warp.LaneIdx == 0)
        {
            partials[Warp.WarpIdx] = warpSum;
        }
        Group.Barrier();
        float sum = partials[0];
        for (int w = 1, warps = groupSize / Warp.WarpSize; w < warps; w++)
        {
            sum += partials[w];
        }
        // The next reduction's first lanes overwrite the partials only after every thread has read them.
        Group.Barrier();
        return sum;
    }

    internal static float Max(float value, int groupSize)
    {
        if (groupSize == 1)
        {
            return value;
        }
        ArrayView<float> partials = SharedMemory.Allocate<float>(MaxWarps);
        bool nan = XMath.IsNaN(value);
        float warpMax = WarpExtensions.Reduce<float, MaxFloat>(nan ? float.NegativeInfinity : value);
        float warpNans = WarpExtensions.Reduce<float, AddFloat>(nan ? 1f : 0f);
        if (Warp.LaneIdx == 0)
        {
            partials[Warp.WarpIdx] = warpNans > 0f ? float.NaN : warpMax;
        }
        Group.Barrier();
        float max = partials[0];
        for (int w = 1, warps = groupSize / Warp.WarpSize; w < warps; w++)
        {
            float partial = partials[w];
            max = XMath.IsNaN(max) || XMath.IsNaN(partial) ? float.NaN : XMath.Max(max, partial);
        }
        Group.Barrier();
        return max;
    }
}
