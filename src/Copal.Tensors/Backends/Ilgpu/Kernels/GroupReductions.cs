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
    /// <summary>
    /// Warps of the largest group the reductions hold (1,024 threads of 32): the shared memory of the warps' partial
    /// results. <see cref="LaunchPlan"/> keeps every group within it.
    /// </summary>
    internal const int MaxWarps = 32;

    internal static float Sum(float value, int groupSize) =>
        groupSize == 1 ? value : CombineWarps<AddInWarpOrder>(WarpExtensions.Reduce<float, AddFloat>(value), groupSize);

    internal static float Max(float value, int groupSize)
    {
        if (groupSize == 1)
        {
            return value;
        }
        bool nan = XMath.IsNaN(value);
        float warpMax = WarpExtensions.Reduce<float, MaxFloat>(nan ? float.NegativeInfinity : value);
        float warpNans = WarpExtensions.Reduce<float, AddFloat>(nan ? 1f : 0f);
        return CombineWarps<MaxKeepingNaN>(warpNans > 0f ? float.NaN : warpMax, groupSize);
    }

    /// <summary>
    /// The group's result from each warp's (valid in its first lane): the first lanes write them to shared memory,
    /// and every thread folds them with <typeparamref name="TFold"/> in warp order.
    /// </summary>
    private static float CombineWarps<TFold>(float warpResult, int groupSize)
        where TFold : struct, IWarpFold
    {
        ArrayView<float> partials = SharedMemory.Allocate<float>(MaxWarps);
        if (Warp.LaneIdx == 0)
        {
            partials[Warp.WarpIdx] = warpResult;
        }
        Group.Barrier();
        TFold fold = default;
        float result = partials[0];
        for (int w = 1, warps = groupSize / Warp.WarpSize; w < warps; w++)
        {
            result = fold.Apply(result, partials[w]);
        }
        // The next reduction's first lanes overwrite the partials only after every thread has read them.
        Group.Barrier();
        return result;
    }

    /// <summary>How <see cref="CombineWarps"/> folds two warps' results.</summary>
    private interface IWarpFold
    {
        float Apply(float so, float next);
    }

    private readonly struct AddInWarpOrder : IWarpFold
    {
        public float Apply(float so, float next) => so + next;
    }

    /// <summary>NaN if either is: a GPU's max instruction returns the other operand of a NaN.</summary>
    private readonly struct MaxKeepingNaN : IWarpFold
    {
        public float Apply(float so, float next) => XMath.IsNaN(so) || XMath.IsNaN(next) ? float.NaN : XMath.Max(so, next);
    }
}
