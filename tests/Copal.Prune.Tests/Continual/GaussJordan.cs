namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The inverse of a small symmetric positive definite matrix by Gauss-Jordan elimination in float64, written from its
/// definition: the reference the COPAL tests check the Cholesky-based code against.
/// </summary>
internal static class GaussJordan
{
    /// <summary>The inverse of the <paramref name="n"/> × <paramref name="n"/> row-major <paramref name="matrix"/>.</summary>
    public static double[,] Inverse(double[] matrix, int n)
    {
        var a = new double[n, 2 * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                a[i, j] = matrix[(i * n) + j];
            }
            a[i, n + i] = 1;
        }
        for (int p = 0; p < n; p++)
        {
            // Symmetric positive definite (dampened): no pivoting needed.
            double pivot = a[p, p];
            for (int j = 0; j < 2 * n; j++)
            {
                a[p, j] /= pivot;
            }
            for (int i = 0; i < n; i++)
            {
                if (i == p)
                {
                    continue;
                }
                double f = a[i, p];
                for (int j = 0; j < 2 * n; j++)
                {
                    a[i, j] -= f * a[p, j];
                }
            }
        }
        var inverse = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                inverse[i, j] = a[i, n + j];
            }
        }
        return inverse;
    }
}
