using System.Runtime.InteropServices;

namespace Copal.Prune.Numerics;

/// <summary>
/// The Cholesky factorization's trailing update, A[i, j] −= Σ_{k∈[k0,k1)} L[i, k]·L[j, k] for k1 ≤ j ≤ i &lt; n, on
/// <see cref="DoubleMicroKernel"/>: the panel L[k1:n, k0:k1] is packed once as 12-row slivers and, negated, as 16-row
/// slivers, and every register tile on or below the diagonal is one kernel call over the panel's depth. Tiles that
/// the diagonal or the edge cuts write only their elements on or below it: the strict upper triangle is never touched.
/// </summary>
internal static unsafe class LowerRankUpdate
{
    // Row tiles per task: 96 rows of the 12-wide slivers (96 × panel × 8 bytes, in L2) meet each 16-wide sliver
    // (16 × panel × 8 bytes, in L1) while it is there.
    private const int TilesPerTask = 8;

    public static void Apply(double* m, int n, int k0, int k1, bool wide, CancellationToken cancellationToken)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR;
        int kc = k1 - k0, rows = n - k1;
        if (rows <= 0 || kc <= 0)
        {
            return;
        }
        double* packA = SliverPacking.Allocate(rows, kc, MR);
        double* packB = SliverPacking.Allocate(rows, kc, NR);
        try
        {
            SliverPacking.PackRows(m, n, k1, n, k0, k1, MR, 1.0, packA);
            SliverPacking.PackRows(m, n, k1, n, k0, k1, NR, -1.0, packB);
            nint pm = (nint)m, pa = (nint)packA, pb = (nint)packB;
            int rowTiles = (rows + MR - 1) / MR;
            int tasks = (rowTiles + TilesPerTask - 1) / TilesPerTask;
            // The last rows have the most tiles left of the diagonal: hand them out first.
            Parallel.For(0, tasks, new ParallelOptions { CancellationToken = cancellationToken }, task =>
            {
                int t0 = (tasks - 1 - task) * TilesPerTask, t1 = Math.Min(rowTiles, t0 + TilesPerTask);
                int lastRow = Math.Min(n, k1 + (t1 * MR)) - 1;
                for (int cj = k1, s = 0; cj <= lastRow; cj += NR, s++)
                {
                    int cols = Math.Min(NR, n - cj);
                    double* bp = (double*)pb + ((long)s * NR * kc);
                    for (int t = t0; t < t1; t++)
                    {
                        int ri = k1 + (t * MR), tileRows = Math.Min(MR, n - ri);
                        if (cj > ri + tileRows - 1)
                        {
                            continue; // wholly above the diagonal
                        }
                        double* ap = (double*)pa + ((long)t * MR * kc);
                        double* c = (double*)pm + ((long)ri * n) + cj;
                        if (tileRows == MR && cols == NR && cj + NR - 1 <= ri)
                        {
                            DoubleMicroKernel.Run(ap, bp, kc, c, n, wide);
                        }
                        else
                        {
                            DoubleMicroKernel.RunEdge(ap, bp, kc, c, n, tileRows, cols, ri - cj, wide);
                        }
                    }
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(packA);
            NativeMemory.AlignedFree(packB);
        }
    }
}
