using System.Globalization;

namespace Copal.Prune.Numerics;

/// <summary>
/// SparseGPT's Hinv: U, the upper Cholesky factor of (H + λI)⁻¹ (so (H + λI)⁻¹ = UᵀU), computed as the reference
/// does: Cholesky of H, the inverse from that factor, Cholesky of the inverse. λ = percdamp·mean(diag H); when
/// either factorization fails the dampening grows (see <see cref="SparseGptOptions.DampFor"/>) and it starts over.
/// </summary>
internal static class InverseHessianFactor
{
    /// <summary>
    /// <paramref name="hessian"/>: symmetric [n, n] row-major with dead inputs already fixed; its lower triangle is
    /// overwritten, its strict upper triangle kept (that is how a retry starts over without a second copy).
    /// </summary>
    /// <returns>U [n, n] row-major (strict lower part zero) and the dampening fraction that succeeded.</returns>
    public static (double[] U, double PercentDamp) Compute(double[] hessian, int n, SparseGptOptions options, CancellationToken cancellationToken)
    {
        var diagonal = new double[n];
        double mean = 0;
        for (int j = 0; j < n; j++)
        {
            diagonal[j] = hessian[((long)j * n) + j];
            mean += diagonal[j];
        }
        mean /= n;
        var z = new double[(long)n * n];
        string lastFailure = "";
        double percent = options.PercentDamp;
        for (int attempt = 0; attempt <= options.MaxDampRetries; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            percent = options.DampFor(attempt);
            if (attempt > 0)
            {
                RestoreLowerFromUpper(hessian, n);
            }
            double damp = percent * mean;
            for (int j = 0; j < n; j++)
            {
                hessian[((long)j * n) + j] = diagonal[j] + damp;
            }
            int failed = Cholesky.FactorLower(hessian, n, cancellationToken);
            if (failed >= 0)
            {
                lastFailure = $"Cholesky of H failed at pivot {failed}";
                continue;
            }
            TriangularInverse.InvertTransposed(hessian, n, z, cancellationToken);
            SymmetricProduct.LowerOfZZt(z, n, hessian, cancellationToken);
            failed = Cholesky.FactorLower(hessian, n, cancellationToken);
            if (failed >= 0)
            {
                lastFailure = $"Cholesky of H⁻¹ failed at pivot {failed}";
                continue;
            }
            // U = Lᵀ of the inverse's factor; the strict upper triangle of 'hessian' still holds H, so U goes to z.
            TransposeLowerInto(hessian, n, z);
            return (z, percent);
        }
        throw new HessianFactorizationException(
            $"SparseGPT: the [{n}, {n}] Hessian is not positive definite after {options.MaxDampRetries + 1} attempts " +
            $"(last dampening {percent.ToString("G3", CultureInfo.InvariantCulture)} × mean diagonal {mean.ToString("G6", CultureInfo.InvariantCulture)}; {lastFailure}); " +
            "check the calibration inputs for NaN/∞ or raise the dampening");
    }

    private static void RestoreLowerFromUpper(double[] a, int n)
    {
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < i; j++)
            {
                a[((long)i * n) + j] = a[((long)j * n) + i];
            }
        }
    }

    private static void TransposeLowerInto(double[] lower, int n, double[] upper)
    {
        const int T = 32;
        Array.Clear(upper);
        for (int i0 = 0; i0 < n; i0 += T)
        {
            for (int j0 = 0; j0 <= i0; j0 += T)
            {
                int i1 = Math.Min(i0 + T, n), j1 = Math.Min(j0 + T, n);
                for (int i = i0; i < i1; i++)
                {
                    for (int j = j0; j < j1 && j <= i; j++)
                    {
                        upper[((long)j * n) + i] = lower[((long)i * n) + j];
                    }
                }
            }
        }
    }
}
