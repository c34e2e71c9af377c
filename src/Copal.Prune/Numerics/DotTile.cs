using System.Runtime.Intrinsics;

namespace Copal.Prune.Numerics;

/// <summary>
/// A tile of dot products between contiguous row segments, c(i, j) += sign·Σ_{k∈[k0,k1)} a[i, k]·b[j, k], read
/// along rows (row-major, unit stride) with a 2×2 register block that loads each vector once per two multiply-adds:
/// the reconstruction error's traces use it, and <see cref="Dot"/> the factorizations' short in-block sums. The
/// factorizations' O(n³) updates run on <see cref="DoubleMicroKernel"/>, which reuses each load for 24 multiply-adds.
/// </summary>
internal static unsafe class DotTile
{
    /// <summary>
    /// For i ∈ [i0, i1), j ∈ [j0, j1) (and j ≤ i when <paramref name="lowerOnly"/>):
    /// c[i·csi + j·csj] += sign·Σ_k a[i·lda + k]·b[j·ldb + k].
    /// </summary>
    public static void Accumulate(double* a, int lda, double* b, int ldb, double* c, long csi, long csj,
        int i0, int i1, int j0, int j1, int k0, int k1, double sign, bool lowerOnly)
    {
        int len = k1 - k0;
        if (len <= 0)
        {
            return;
        }
        int i = i0;
        for (; i + 1 < i1; i += 2)
        {
            double* a0 = a + ((long)i * lda) + k0;
            double* a1 = a0 + lda;
            int jEnd = lowerOnly ? Math.Min(j1, i + 2) : j1;
            int j = j0;
            for (; j + 1 < jEnd; j += 2)
            {
                double* b0 = b + ((long)j * ldb) + k0;
                Dot2x2(a0, a1, b0, b0 + ldb, len, out double s00, out double s01, out double s10, out double s11);
                double* ci = c + (i * csi) + (j * csj);
                ci[0] += sign * s00;
                ci[csi] += sign * s10;
                ci[csi + csj] += sign * s11;
                if (!lowerOnly || j + 1 <= i)
                {
                    ci[csj] += sign * s01;
                }
            }
            for (; j < jEnd; j++)
            {
                double* bj = b + ((long)j * ldb) + k0;
                if (!lowerOnly || j <= i)
                {
                    c[(i * csi) + (j * csj)] += sign * Dot(a0, bj, len);
                }
                c[((i + 1) * csi) + (j * csj)] += sign * Dot(a1, bj, len);
            }
        }
        for (; i < i1; i++)
        {
            double* ai = a + ((long)i * lda) + k0;
            int jEnd = lowerOnly ? Math.Min(j1, i + 1) : j1;
            for (int j = j0; j < jEnd; j++)
            {
                c[(i * csi) + (j * csj)] += sign * Dot(ai, b + ((long)j * ldb) + k0, len);
            }
        }
    }

    /// <summary>Σ_k x[k]·y[k] over contiguous memory.</summary>
    public static double Dot(double* x, double* y, int len)
    {
        int k = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && len >= 8)
        {
            Vector256<double> s0 = Vector256<double>.Zero, s1 = Vector256<double>.Zero;
            for (; k + 8 <= len; k += 8)
            {
                s0 = Vector256.MultiplyAddEstimate(Vector256.Load(x + k), Vector256.Load(y + k), s0);
                s1 = Vector256.MultiplyAddEstimate(Vector256.Load(x + k + 4), Vector256.Load(y + k + 4), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; k < len; k++)
        {
            sum += x[k] * y[k];
        }
        return sum;
    }

    private static void Dot2x2(double* a0, double* a1, double* b0, double* b1, int len,
        out double s00, out double s01, out double s10, out double s11)
    {
        int k = 0;
        s00 = s01 = s10 = s11 = 0;
        if (Vector256.IsHardwareAccelerated && len >= 4)
        {
            Vector256<double> c00 = Vector256<double>.Zero, c01 = c00, c10 = c00, c11 = c00;
            for (; k + 4 <= len; k += 4)
            {
                Vector256<double> x0 = Vector256.Load(a0 + k), x1 = Vector256.Load(a1 + k);
                Vector256<double> y0 = Vector256.Load(b0 + k), y1 = Vector256.Load(b1 + k);
                c00 = Vector256.MultiplyAddEstimate(x0, y0, c00);
                c01 = Vector256.MultiplyAddEstimate(x0, y1, c01);
                c10 = Vector256.MultiplyAddEstimate(x1, y0, c10);
                c11 = Vector256.MultiplyAddEstimate(x1, y1, c11);
            }
            s00 = Vector256.Sum(c00);
            s01 = Vector256.Sum(c01);
            s10 = Vector256.Sum(c10);
            s11 = Vector256.Sum(c11);
        }
        for (; k < len; k++)
        {
            s00 += a0[k] * b0[k];
            s01 += a0[k] * b1[k];
            s10 += a1[k] * b0[k];
            s11 += a1[k] * b1[k];
        }
    }
}
