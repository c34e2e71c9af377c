using System.Runtime.InteropServices;

namespace Copal.Prune.Numerics;

/// <summary>
/// Z = L⁻ᵀ (upper triangular, row-major) from a lower Cholesky factor L, so that Z·Zᵀ = (L·Lᵀ)⁻¹.
/// Row j of Z is column j of L⁻¹ and is found by forward substitution, Z[j, i] = (δ_ij − Σ_{k&lt;i} L[i, k]·Z[j, k]) / L[i, i].
/// Columns i go by blocks of 64: the bulk of each sum (k before the block) is a product Z[:, :i0]·L[i0:i1, :i0]ᵀ on
/// <see cref="DoubleMicroKernel"/> (n³/3 flops in all), the rest a substitution inside the block (n²·32 flops).
/// </summary>
internal static unsafe class TriangularInverse
{
    // Columns i per step: four 16-wide slivers of L.
    private const int Block = 64;

    // Depth per packed 12-row sliver of Z: the sliver (12 × 128 × 8 bytes) and the 16-row sliver of L it meets
    // (16 × 128 × 8) fit in L1 together, as in the Cholesky update's panel (256 measured the same).
    private const int KChunk = 128;

    // 12-row tiles of Z per task.
    private const int TilesPerTask = 4;

    /// <summary>
    /// Fills <paramref name="z"/> [n, n] (overwritten, strict lower part zero) from the lower triangle of <paramref name="l"/>.
    /// <paramref name="wide"/> lets the products use 512-bit vectors where the hardware has them (tests turn it off; the result is the same).
    /// </summary>
    public static void InvertTransposed(double[] l, int n, double[] z, CancellationToken cancellationToken, bool wide = true)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR;
        Array.Clear(z);
        double* packL = SliverPacking.Allocate(Block, n, NR);
        try
        {
            fixed (double* pl = l, pz = z)
            {
                nint lp = (nint)pl, zp = (nint)pz, pp = (nint)packL;
                for (int i0 = 0; i0 < n; i0 += Block)
                {
                    int i1 = Math.Min(i0 + Block, n);
                    // −L[i0:i1, 0:i0] as 16-row slivers: sliver s at packL + s·16·i0, depth k at + k·16.
                    SliverPacking.PackRows(pl, n, i0, i1, 0, i0, NR, -1.0, packL);
                    int tiles = (i1 + MR - 1) / MR;
                    int tasks = (tiles + TilesPerTask - 1) / TilesPerTask;
                    Parallel.For(0, tasks, new ParallelOptions { CancellationToken = cancellationToken }, task =>
                    {
                        double* L = (double*)lp, Z = (double*)zp;
                        double* packZ = stackalloc double[MR * KChunk];
                        int t1 = Math.Min(tiles, (task + 1) * TilesPerTask);
                        for (int t = task * TilesPerTask; t < t1; t++)
                        {
                            int j0 = t * MR;
                            SubtractEarlierColumns(L, Z, n, (double*)pp, packZ, i0, i1, j0, wide);
                            Substitute(L, Z, n, i0, i1, j0, Math.Min(j0 + MR, i1));
                        }
                    });
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packL);
        }
    }

    // Z[j, i] −= Σ_{k∈[j0, i0)} Z[j, k]·L[i, k] for the tile's rows j < i0 (Z[j, k] = 0 for k < j, so k starts at the
    // tile's first row), in depth chunks: each chunk of the 12 rows is packed once and meets the block's four slivers.
    private static void SubtractEarlierColumns(double* L, double* Z, int n, double* packL, double* packZ, int i0, int i1, int j0, bool wide)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR;
        int rows = Math.Min(MR, i0 - j0);
        for (int kb = j0; kb < i0 && rows > 0; kb += KChunk)
        {
            int kc = Math.Min(KChunk, i0 - kb);
            SliverPacking.PackRows(Z, n, j0, j0 + rows, kb, kb + kc, MR, 1.0, packZ);
            for (int s = 0; i0 + (s * NR) < i1; s++)
            {
                int cols = Math.Min(NR, i1 - i0 - (s * NR));
                double* bp = packL + ((long)s * NR * i0) + ((long)kb * NR);
                double* c = Z + ((long)j0 * n) + i0 + (s * NR);
                if (rows == MR && cols == NR)
                {
                    DoubleMicroKernel.Run(packZ, bp, kc, c, n, wide);
                }
                else
                {
                    DoubleMicroKernel.RunEdge(packZ, bp, kc, c, n, rows, cols, NR, wide);
                }
            }
        }
    }

    // Within the block: Z[j, i] = (δ_ij + Z[j, i] − Σ_{k∈[max(i0, j), i)} L[i, k]·Z[j, k]) / L[i, i], where Z[j, i]
    // already holds minus the sum over the earlier columns. Row i of L is taken once for all the tile's rows j: rows of
    // L lie n·8 bytes apart (a power of two at LLaMA widths, so on few L1 sets) and were re-read from L2 per row j.
    private static void Substitute(double* L, double* Z, int n, int i0, int i1, int r0, int r1)
    {
        for (int i = Math.Max(i0, r0); i < i1; i++)
        {
            double* li = L + ((long)i * n);
            for (int j = r0; j < r1 && j <= i; j++)
            {
                double* zj = Z + ((long)j * n);
                int start = Math.Max(i0, j);
                double rhs = (i == j ? 1.0 : 0.0) + zj[i] - DotTile.Dot(li + start, zj + start, i - start);
                zj[i] = rhs / li[i];
            }
        }
    }
}
