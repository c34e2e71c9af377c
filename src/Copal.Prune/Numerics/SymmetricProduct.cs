namespace Copal.Prune.Numerics;

/// <summary>The lower triangle of C = Z·Zᵀ for an upper-triangular Z [n, n] row-major (the inverse from its factor).</summary>
internal static unsafe class SymmetricProduct
{
    private const int Tile = 64;
    private const int KChunk = 512;

    /// <summary>Writes C[i, j] = Σ_{k ≥ i} Z[i, k]·Z[j, k] for j ≤ i into the lower triangle of <paramref name="c"/>, leaving its strict upper triangle untouched.</summary>
    public static void LowerOfZZt(double[] z, int n, double[] c, CancellationToken cancellationToken)
    {
        fixed (double* pz = z, pc = c)
        {
            nint zp = (nint)pz, cp = (nint)pc;
            int tiles = (n + Tile - 1) / Tile;
            Parallel.For(0, tiles, new ParallelOptions { CancellationToken = cancellationToken }, ti =>
            {
                double* Z = (double*)zp, C = (double*)cp;
                int i0 = ti * Tile, i1 = Math.Min(i0 + Tile, n);
                for (int i = i0; i < i1; i++)
                {
                    new Span<double>(C + ((long)i * n), i + 1).Clear();
                }
                // Z[i, k] = 0 for k < i, so the sum starts at the tile's first row.
                for (int k0 = i0; k0 < n; k0 += KChunk)
                {
                    int k1 = Math.Min(k0 + KChunk, n);
                    for (int j0 = 0; j0 <= i0; j0 += Tile)
                    {
                        DotTile.Accumulate(Z, n, Z, n, C, n, 1, i0, i1, j0, Math.Min(j0 + Tile, n), k0, k1, 1.0, lowerOnly: j0 == i0);
                    }
                }
            });
        }
    }
}
