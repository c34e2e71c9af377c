namespace Copal.Prune.Numerics;

/// <summary>
/// Z = L⁻ᵀ (upper triangular, row-major) from a lower Cholesky factor L, so that Z·Zᵀ = (L·Lᵀ)⁻¹.
/// Row j of Z is column j of L⁻¹ and is found by forward substitution, Z[j, i] = (δ_ij − Σ_{k&lt;i} L[i, k]·Z[j, k]) / L[i, i];
/// computing it by blocks of i lets the bulk of each sum (k before the block) run as one <see cref="DotTile"/> per tile.
/// </summary>
internal static unsafe class TriangularInverse
{
    private const int Block = 64;
    private const int KChunk = 512;

    /// <summary>Fills <paramref name="z"/> [n, n] (overwritten, strict lower part zero) from the lower triangle of <paramref name="l"/>.</summary>
    public static void InvertTransposed(double[] l, int n, double[] z, CancellationToken cancellationToken)
    {
        Array.Clear(z);
        fixed (double* pl = l, pz = z)
        {
            nint lp = (nint)pl, zp = (nint)pz;
            for (int i0 = 0; i0 < n; i0 += Block)
            {
                int i1 = Math.Min(i0 + Block, n);
                int jTiles = (i1 + Block - 1) / Block;
                Parallel.For(0, jTiles, new ParallelOptions { CancellationToken = cancellationToken }, jt =>
                {
                    double* L = (double*)lp, Z = (double*)zp;
                    int j0 = jt * Block, j1 = Math.Min(j0 + Block, i1);
                    // Z[j, i] += Σ_{k∈[j0, i0)} L[i, k]·Z[j, k]: c(i, j) addresses Z[j, i] (csi = 1, csj = n).
                    for (int k0 = j0; k0 < i0; k0 += KChunk)
                    {
                        int k1 = Math.Min(k0 + KChunk, i0);
                        DotTile.Accumulate(L, n, Z, n, Z, 1, n, i0, i1, j0, j1, k0, k1, 1.0, lowerOnly: false);
                    }
                    for (int j = j0; j < j1; j++)
                    {
                        double* zj = Z + ((long)j * n);
                        int start = Math.Max(i0, j);
                        for (int i = start; i < i1; i++)
                        {
                            double* li = L + ((long)i * n);
                            double rhs = (i == j ? 1.0 : 0.0) - zj[i] - DotTile.Dot(li + start, zj + start, i - start);
                            zj[i] = rhs / li[i];
                        }
                    }
                });
            }
        }
    }
}
