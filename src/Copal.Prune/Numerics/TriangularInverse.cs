using System.Runtime.InteropServices;

namespace Copal.Prune.Numerics;

/// <summary>
/// Z = L⁻ᵀ (upper triangular, row-major) from a lower Cholesky factor L, so that Z·Zᵀ = (L·Lᵀ)⁻¹.
/// Row j of Z is column j of L⁻¹ and is found by forward substitution, Z[j, i] = (δ_ij − Σ_{k&lt;i} L[i, k]·Z[j, k]) / L[i, i].
/// Columns i go by blocks of 64: the bulk of each sum (k before the block) is a product Z[:, :i0]·L[i0:i1, :i0]ᵀ on
/// <see cref="DoubleMicroKernel"/> (n³/3 flops in all), the rest a substitution inside the block (n²·32 flops).
/// </summary>
/// <remarks>
/// The product for a block needs only the columns of Z before it, so it is split at the start s0 of a span of four
/// blocks: the part over k &lt; s0 is one product for the whole span (each packed sliver of Z's rows then meets 256
/// columns of L rather than 64; packing Z's rows had taken about 40% of the product's time), the part over
/// k ∈ [s0, i0) one per block. The kernel accumulates into Z itself, one fused multiply-add per k in ascending order
/// (<see cref="DoubleMicroKernel"/>), so the split changes no element's arithmetic: Z[j, i] is the chain over
/// k ∈ [j, i0) either way (the terms of k &lt; j are Z's zeros, and adding them to +0 leaves +0), and Z is the same to
/// the bit as with one product per block.
/// </remarks>
internal static unsafe class TriangularInverse
{
    // Columns i per substitution step: four 16-wide slivers of L.
    private const int Block = 64;

    // Columns whose sums over the columns before them are one product: four blocks, 16 slivers of L. The slivers'
    // depth chunk (256 × 128 × 8 bytes) stays in L2 while a task's rows of Z meet it.
    private const int Span = 4 * Block;

    // Depth per packed 12-row sliver of Z: the sliver (12 × 128 × 8 bytes) stays in L1 while it meets the 16-row
    // slivers of L (16 × 128 × 8 each), as in the Cholesky update's panel (256 measured the same).
    private const int KChunk = 128;

    // 12-row tiles of Z per task.
    private const int TilesPerTask = 4;

    /// <summary>
    /// Fills <paramref name="z"/> [n, n] (overwritten, strict lower part zero) from the lower triangle of <paramref name="l"/>.
    /// <paramref name="wide"/> lets the products use 512-bit vectors where the hardware has them (tests turn it off; the result is the same).
    /// </summary>
    public static void InvertTransposed(double[] l, int n, double[] z, CancellationToken cancellationToken, bool wide = true)
    {
        const int MR = DoubleMicroKernel.MR;
        Array.Clear(z);
        double* packSpan = SliverPacking.Allocate(Span, n, DoubleMicroKernel.NR);
        double* packBlock = SliverPacking.Allocate(Block, Span, DoubleMicroKernel.NR);
        try
        {
            fixed (double* pl = l, pz = z)
            {
                nint lp = (nint)pl, zp = (nint)pz, ps = (nint)packSpan, pb = (nint)packBlock;
                var options = new ParallelOptions { CancellationToken = cancellationToken };
                for (int s0 = 0; s0 < n; s0 += Span)
                {
                    int s1 = Math.Min(s0 + Span, n);
                    if (s0 > 0)
                    {
                        // Z[j, s0:s1] −= Z[j, :s0]·L[s0:s1, :s0]ᵀ for the rows j < s0, with −L[s0:s1, 0:s0] as 16-row slivers.
                        SliverPacking.PackRows(pl, n, s0, s1, 0, s0, DoubleMicroKernel.NR, -1.0, packSpan);
                        int tiles = (s0 + MR - 1) / MR;
                        Parallel.For(0, (tiles + TilesPerTask - 1) / TilesPerTask, options, task =>
                        {
                            double* packZ = stackalloc double[MR * KChunk];
                            int t0 = task * TilesPerTask, t1 = Math.Min(tiles, t0 + TilesPerTask);
                            SubtractProduct((double*)zp, n, (double*)ps, 0, s0, packZ, t0 * MR, Math.Min(t1 * MR, s0), 0, s0, s0, s1, wide);
                        });
                    }
                    for (int i0 = s0; i0 < s1; i0 += Block)
                    {
                        int i1 = Math.Min(i0 + Block, n);
                        // −L[i0:i1, s0:i0]: the rest of the block's sums over the columns before it.
                        SliverPacking.PackRows(pl, n, i0, i1, s0, i0, DoubleMicroKernel.NR, -1.0, packBlock);
                        int tiles = (i1 + MR - 1) / MR;
                        Parallel.For(0, (tiles + TilesPerTask - 1) / TilesPerTask, options, task =>
                        {
                            double* L = (double*)lp, Z = (double*)zp;
                            double* packZ = stackalloc double[MR * KChunk];
                            int t1 = Math.Min(tiles, (task + 1) * TilesPerTask);
                            for (int t = task * TilesPerTask; t < t1; t++)
                            {
                                int j0 = t * MR;
                                SubtractProduct(Z, n, (double*)pb, s0, i0, packZ, j0, Math.Min(j0 + MR, i0), s0, i0, i0, i1, wide);
                                Substitute(L, Z, n, i0, i1, j0, Math.Min(j0 + MR, i1));
                            }
                        });
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packSpan);
            NativeMemory.AlignedFree(packBlock);
        }
    }

    // Z[j, c] −= Σ_{k∈[max(k0, j0ᵗ), k1)} Z[j, k]·L[c, k] for the rows j ∈ [r0, r1) and columns c ∈ [c0, c1), where j0ᵗ is
    // the first row of j's 12-row tile (Z[j, k] = 0 for k < j, so a tile's sums start at its first row). packL holds
    // −L[c0:c1, depth0:depth1] as 16-row slivers (sliver s at s·16·(depth1 − depth0), depth k at (k − depth0)·16).
    // Depth chunks go in the outer loop, so one chunk of the slivers (≤ 16 × 16 × 128 doubles) serves all the rows'
    // tiles while it is in L2; each tile's chunk is packed once and meets all the slivers. A tile's chunks go in
    // ascending order, as the kernel's per-element chain requires.
    private static void SubtractProduct(double* Z, int n, double* packL, int depth0, int depth1, double* packZ,
        int r0, int r1, int k0, int k1, int c0, int c1, bool wide)
    {
        const int MR = DoubleMicroKernel.MR, NR = DoubleMicroKernel.NR;
        if (r0 >= r1 || k0 >= k1)
        {
            return;
        }
        int depth = depth1 - depth0;
        int firstChunk = depth0 + ((Math.Max(k0, r0) - depth0) / KChunk * KChunk);
        for (int kb = firstChunk; kb < k1; kb += KChunk)
        {
            int kEnd = Math.Min(kb + KChunk, k1);
            for (int j0 = r0; j0 < r1; j0 += MR)
            {
                int rows = Math.Min(MR, r1 - j0);
                int lo = Math.Max(kb, Math.Max(k0, j0));
                if (lo >= kEnd)
                {
                    continue;
                }
                int kc = kEnd - lo;
                SliverPacking.PackRows(Z, n, j0, j0 + rows, lo, kEnd, MR, 1.0, packZ);
                for (int s = 0; c0 + (s * NR) < c1; s++)
                {
                    int cols = Math.Min(NR, c1 - c0 - (s * NR));
                    double* bp = packL + ((long)s * NR * depth) + ((long)(lo - depth0) * NR);
                    double* c = Z + ((long)j0 * n) + c0 + (s * NR);
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
