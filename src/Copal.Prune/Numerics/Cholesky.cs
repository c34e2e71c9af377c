namespace Copal.Prune.Numerics;

/// <summary>
/// Blocked right-looking Cholesky factorization A = L·Lᵀ of a symmetric matrix [n, n] row-major, in place in
/// the lower triangle. The strict upper triangle is neither read nor written, so a caller can keep the
/// original matrix there and restore the lower half to retry.
/// </summary>
internal static unsafe class Cholesky
{
    /// <summary>
    /// A pivot counts as failed unless it exceeds this fraction of its original diagonal entry. LAPACK only
    /// rejects pivots ≤ 0, but a pivot that has lost all but a few digits of its diagonal means the matrix is
    /// numerically singular (cond ≳ 1e12) and its inverse would be noise; with the default 1% dampening the
    /// ratio is ≥ ~0.01/n, far above this.
    /// </summary>
    public const double PivotRelativeTolerance = 1e-12;

    // Columns per panel: the trailing update (n³/3 flops, on the register tile) runs over this depth, while the panel's
    // own solve (n²·Panel/2 flops, dot products) grows with it.
    private const int Panel = 128;
    private const int Tile = 64;

    /// <summary>
    /// Factors in place; returns -1 on success, else the column whose pivot failed. <paramref name="wide"/> lets the
    /// trailing update use 512-bit vectors where the hardware has them (tests turn it off; the result is the same).
    /// </summary>
    public static int FactorLower(double[] a, int n, CancellationToken cancellationToken, bool wide = true)
    {
        var diagonal = new double[n];
        for (int j = 0; j < n; j++)
        {
            diagonal[j] = a[((long)j * n) + j];
        }
        fixed (double* p = a)
        {
            double* m = p;
            for (int k0 = 0; k0 < n; k0 += Panel)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int k1 = Math.Min(k0 + Panel, n);
                int failed = FactorDiagonalBlock(m, n, k0, k1, diagonal);
                if (failed >= 0)
                {
                    return failed;
                }
                if (k1 == n)
                {
                    break;
                }
                SolvePanel(m, n, k0, k1, cancellationToken);
                LowerRankUpdate.Apply(m, n, k0, k1, wide, cancellationToken);
            }
        }
        return -1;
    }

    private static int FactorDiagonalBlock(double* m, int n, int k0, int k1, double[] diagonal)
    {
        for (int j = k0; j < k1; j++)
        {
            double* rj = m + ((long)j * n);
            double d = rj[j] - DotTile.Dot(rj + k0, rj + k0, j - k0);
            if (!(d > PivotRelativeTolerance * diagonal[j]) || !double.IsFinite(d))
            {
                return j;
            }
            double ljj = Math.Sqrt(d);
            rj[j] = ljj;
            for (int i = j + 1; i < k1; i++)
            {
                double* ri = m + ((long)i * n);
                ri[j] = (ri[j] - DotTile.Dot(ri + k0, rj + k0, j - k0)) / ljj;
            }
        }
        return -1;
    }

    // L[i, k0:k1] = A[i, k0:k1]·L_kk⁻ᵀ for every row below the block; rows are independent. Each row j of the diagonal
    // block is taken once for a group of rows i: those rows lie n·8 bytes apart (a power of two at LLaMA widths, so on
    // few L1 sets) and were re-read from L2 for every row i. Each element's arithmetic is the same either way.
    private static void SolvePanel(double* m, int n, int k0, int k1, CancellationToken cancellationToken)
    {
        const int RowsPerGroup = 8;
        nint basePtr = (nint)m;
        Parallel.For(0, (n - k1 + Tile - 1) / Tile, new ParallelOptions { CancellationToken = cancellationToken }, t =>
        {
            double* mm = (double*)basePtr;
            int r0 = k1 + (t * Tile), r1 = Math.Min(r0 + Tile, n);
            for (int g0 = r0; g0 < r1; g0 += RowsPerGroup)
            {
                int g1 = Math.Min(g0 + RowsPerGroup, r1);
                for (int j = k0; j < k1; j++)
                {
                    double* rj = mm + ((long)j * n);
                    for (int i = g0; i < g1; i++)
                    {
                        double* ri = mm + ((long)i * n);
                        ri[j] = (ri[j] - DotTile.Dot(ri + k0, rj + k0, j - k0)) / rj[j];
                    }
                }
            }
        });
    }
}
