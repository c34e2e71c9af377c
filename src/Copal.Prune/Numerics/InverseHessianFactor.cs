using System.Globalization;

namespace Copal.Prune.Numerics;

/// <summary>
/// SparseGPT's Hinv: U, the upper Cholesky factor of (H + λI)⁻¹ (so (H + λI)⁻¹ = UᵀU). The reference takes the
/// Cholesky factor of H, the inverse from it and the Cholesky factor of that inverse (4/3·n³ flops); here U is the
/// inverse of the Cholesky factor of H with its rows and columns reversed (2/3·n³): with P the reversal and
/// P(H + λI)P = LLᵀ, H + λI = (PLP)(PLP)ᵀ where PLP is upper triangular, so (H + λI)⁻¹ = UᵀU for U = (PLP)⁻¹ = P·L⁻¹·P,
/// upper with a positive diagonal, the same factor as the reference's in exact arithmetic. λ = percdamp·mean(diag H);
/// when the factorization fails the dampening grows (see <see cref="SparseGptOptions.DampFor"/>) and it starts over.
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
        RequireFinite(hessian, n);
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
            double damp = percent * mean;
            ReverseLowerFromUpper(hessian, diagonal, damp, n);
            int failed = Cholesky.FactorLower(hessian, n, cancellationToken);
            if (failed >= 0)
            {
                lastFailure = $"Cholesky of H failed at pivot {n - 1 - failed}";
                continue;
            }
            // z = L⁻ᵀ, so L⁻¹ = zᵀ and U = P·zᵀ·P: U[i, j] = z[n−1−j, n−1−i], z reflected across its anti-diagonal.
            TriangularInverse.InvertTransposed(hessian, n, z, cancellationToken);
            ReflectAcrossAntiDiagonal(z, n);
            return (z, percent);
        }
        // No method's name: SparseGPT and COPAL's sweeps factor here alike, and the driver prefixes the tensor.
        throw new HessianFactorizationException(
            $"the [{n}, {n}] Hessian is not positive definite after {options.MaxDampRetries + 1} attempts " +
            $"(last dampening {percent.ToString("G3", CultureInfo.InvariantCulture)} × mean diagonal {mean.ToString("G6", CultureInfo.InvariantCulture)}; {lastFailure}); " +
            "raise the dampening (PercentDamp or MaxDampRetries of the method's options)");
    }

    // No dampening makes a Hessian holding NaN or ∞ factorable: the retries would fail at a pivot that says nothing
    // about the cause. H = (2/N)·Σ XᵀX, so its entry (i, j) is non-finite where input feature i or j was (or their
    // products overflowed).
    private static void RequireFinite(double[] hessian, int n)
    {
        for (long k = 0; k < (long)n * n; k++)
        {
            if (!double.IsFinite(hessian[k]))
            {
                long i = k / n, j = k % n;
                // An infinity is first of all what sums of finite products become past their precision's largest value
                // (a backend's f32 sums at activations of 1.8e19); NaN is what a NaN activation gives.
                throw new HessianFactorizationException(string.Create(CultureInfo.InvariantCulture,
                    $"the [{n}, {n}] input Hessian holds {Copal.Tensors.Numerics.NonFinite.Describe(hessian[k])} at row {i}, column {j} (input features {i} and {j}): ") +
                    (double.IsInfinity(hessian[k])
                        ? "the calibration activations' products overflowed where they were summed (single precision passes 3.4e38 at activations of magnitude 1.8e19), or an activation was infinite; pruning needs activations whose products fit"
                        : "the calibration activations held a non-finite value, or their products overflowed; pruning needs finite activations"));
            }
        }
    }

    // The lower triangle of P(H + λI)P, read from H's strict upper triangle (kept, so a retry starts from H again) and
    // its diagonal: element (i, j), i > j, is H[n−1−i, n−1−j], above H's diagonal.
    private static void ReverseLowerFromUpper(double[] a, double[] diagonal, double damp, int n)
    {
        for (int i = 0; i < n; i++)
        {
            long row = (long)i * n, source = (long)(n - 1 - i) * n;
            for (int j = 0; j < i; j++)
            {
                a[row + j] = a[source + (n - 1 - j)];
            }
            a[row + i] = diagonal[n - 1 - i] + damp;
        }
    }

    // m[i, j] ↔ m[n−1−j, n−1−i] in place: an upper triangular matrix stays upper triangular. Each pair is swapped once,
    // from its element before the anti-diagonal (i + j < n − 1). By 64 × 64 blocks, because the partner of a row is a
    // column: a block's partners then lie in 64 rows (32 KB) rather than one cache line in each of n rows.
    private static void ReflectAcrossAntiDiagonal(double[] m, int n)
    {
        const int Block = 64;
        for (int i0 = 0; i0 < n; i0 += Block)
        {
            for (int j0 = 0; i0 + j0 < n - 1 && j0 < n; j0 += Block)
            {
                int i1 = Math.Min(i0 + Block, n), j1 = Math.Min(j0 + Block, n);
                for (int i = i0; i < i1; i++)
                {
                    int jEnd = Math.Min(j1, n - 1 - i);
                    for (int j = j0; j < jEnd; j++)
                    {
                        long a = ((long)i * n) + j, b = ((long)(n - 1 - j) * n) + (n - 1 - i);
                        (m[a], m[b]) = (m[b], m[a]);
                    }
                }
            }
        }
    }
}
