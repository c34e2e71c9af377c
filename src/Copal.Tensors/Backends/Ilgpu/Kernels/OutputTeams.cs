using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// The matrix-vector kernels' split of work: a team of lanes per output feature, a warp on a GPU and one thread
/// where the group is narrower than a warp (ILGPU's CPU accelerator, whose warps of one-thread groups are not whole).
/// Teams sum with warp shuffles only: no shared memory and no barrier.
/// </summary>
internal static class OutputTeams
{
    /// <summary>This thread's team size, its lane, the first output feature its team owns and the stride to the next.</summary>
    internal static (int Team, int Lane, int First, int Stride) Assign()
    {
        int groupSize = Group.DimX, thread = Group.IdxX;
        int team = groupSize < Warp.WarpSize ? 1 : Warp.WarpSize;
        int teams = groupSize / team;
        return (team, thread % team, (Grid.IdxX * teams) + (thread / team), Grid.DimX * teams);
    }

    /// <summary>The team's total of <paramref name="partial"/>, valid in its first lane.</summary>
    internal static float Sum(float partial, int team) => team > 1 ? WarpExtensions.Reduce<float, AddFloat>(partial) : partial;

    /// <summary>Sums the team's partial dot products and has its first lane write the total.</summary>
    internal static void Store(ArrayView<float> y, long at, float partial, int team, int lane)
    {
        partial = Sum(partial, team);
        if (lane == 0)
        {
            y[at] = partial;
        }
    }
}
