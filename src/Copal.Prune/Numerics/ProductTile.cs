using System.Numerics;
using System.Runtime.Intrinsics;

namespace Copal.Prune.Numerics;

/// <summary>
/// C += (s·A)·B, the two rows·cols² products of COPAL's dense-target move (s·W·K and y·U). Each element of C is
/// accumulated in ascending k with a multiply and then an add, the arithmetic of a row-at-a-time axpy
/// (<c>TensorPrimitives.MultiplyAdd</c>, which does not fuse), so the result is the same to the bit. What changes is
/// the memory traffic: a block of 4 rows × 4 vectors of C stays in registers across a block of k, so a row of B is
/// read once per 4 rows of A from L1 instead of the whole row of C being read and written from L2 for every k.
/// Terms the axpy skipped (a zero in A) are added here as ±0, which changes nothing: an accumulator that starts at +0
/// and adds finite terms is never −0, and x + (±0) = x for every other x.
/// </summary>
internal static unsafe class ProductTile
{
    // Rows of k per pass over a column block: a 256 × 32 block of B is 64 KB and stays in L2 across all row tiles.
    private const int KBlock = 256;

    /// <summary>
    /// c[r·ldc + j] += Σ_{k ∈ [0, depth)} (scale·a[r·lda + k])·b[k·ldb + j] for r ∈ [0, rows), j ∈ [0, width).
    /// When <paramref name="upperTriangular"/>, b[k, j] must be 0 for k &gt; j, and those k are skipped per column block.
    /// <paramref name="wide"/> uses 512-bit vectors where the hardware has them (tests turn it off to run the other path).
    /// </summary>
    public static void MultiplyAdd(double* a, int lda, double scale, double* b, int ldb, double* c, int ldc,
        int rows, int depth, int width, bool upperTriangular, bool wide = true)
    {
        bool use512 = wide && Vector512.IsHardwareAccelerated;
        int tileWidth = use512 ? 4 * Vector512<double>.Count : 4 * Vector<double>.Count;
        for (int j0 = 0; j0 < width; j0 += tileWidth)
        {
            int jw = Math.Min(tileWidth, width - j0);
            int kEnd = upperTriangular ? Math.Min(depth, j0 + jw) : depth;
            for (int k0 = 0; k0 < kEnd; k0 += KBlock)
            {
                int k1 = Math.Min(kEnd, k0 + KBlock);
                int r = 0;
                if (jw == tileWidth && (use512 || Vector.IsHardwareAccelerated))
                {
                    for (; r + 4 <= rows; r += 4)
                    {
                        double* ar = a + ((long)r * lda);
                        double* cr = c + ((long)r * ldc) + j0;
                        if (use512)
                        {
                            Tile512(ar, lda, scale, b + j0, ldb, cr, ldc, k0, k1);
                        }
                        else
                        {
                            TileVector(ar, lda, scale, b + j0, ldb, cr, ldc, k0, k1);
                        }
                    }
                }
                for (; r < rows; r++)
                {
                    Scalar(a + ((long)r * lda), scale, b + j0, ldb, c + ((long)r * ldc) + j0, jw, k0, k1);
                }
            }
        }
    }

    private static void Tile512(double* a, int lda, double scale, double* b, int ldb, double* c, int ldc, int k0, int k1)
    {
        const int V = 8;
        double* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        double* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        Vector512<double> x00 = Vector512.Load(c0), x01 = Vector512.Load(c0 + V), x02 = Vector512.Load(c0 + (2 * V)), x03 = Vector512.Load(c0 + (3 * V));
        Vector512<double> x10 = Vector512.Load(c1), x11 = Vector512.Load(c1 + V), x12 = Vector512.Load(c1 + (2 * V)), x13 = Vector512.Load(c1 + (3 * V));
        Vector512<double> x20 = Vector512.Load(c2), x21 = Vector512.Load(c2 + V), x22 = Vector512.Load(c2 + (2 * V)), x23 = Vector512.Load(c2 + (3 * V));
        Vector512<double> x30 = Vector512.Load(c3), x31 = Vector512.Load(c3 + V), x32 = Vector512.Load(c3 + (2 * V)), x33 = Vector512.Load(c3 + (3 * V));
        for (int k = k0; k < k1; k++)
        {
            double* bk = b + ((long)k * ldb);
            Vector512<double> b0 = Vector512.Load(bk), b1 = Vector512.Load(bk + V), b2 = Vector512.Load(bk + (2 * V)), b3 = Vector512.Load(bk + (3 * V));
            Vector512<double> s = Vector512.Create(scale * a0[k]);
            x00 += b0 * s; x01 += b1 * s; x02 += b2 * s; x03 += b3 * s;
            s = Vector512.Create(scale * a1[k]);
            x10 += b0 * s; x11 += b1 * s; x12 += b2 * s; x13 += b3 * s;
            s = Vector512.Create(scale * a2[k]);
            x20 += b0 * s; x21 += b1 * s; x22 += b2 * s; x23 += b3 * s;
            s = Vector512.Create(scale * a3[k]);
            x30 += b0 * s; x31 += b1 * s; x32 += b2 * s; x33 += b3 * s;
        }
        x00.Store(c0); x01.Store(c0 + V); x02.Store(c0 + (2 * V)); x03.Store(c0 + (3 * V));
        x10.Store(c1); x11.Store(c1 + V); x12.Store(c1 + (2 * V)); x13.Store(c1 + (3 * V));
        x20.Store(c2); x21.Store(c2 + V); x22.Store(c2 + (2 * V)); x23.Store(c2 + (3 * V));
        x30.Store(c3); x31.Store(c3 + V); x32.Store(c3 + (2 * V)); x33.Store(c3 + (3 * V));
    }

    // The same tile in the hardware's preferred vector (256 bits on x64 without AVX-512, 128 on Arm).
    private static void TileVector(double* a, int lda, double scale, double* b, int ldb, double* c, int ldc, int k0, int k1)
    {
        int v = Vector<double>.Count;
        double* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        double* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        Vector<double> x00 = Vector.Load(c0), x01 = Vector.Load(c0 + v), x02 = Vector.Load(c0 + (2 * v)), x03 = Vector.Load(c0 + (3 * v));
        Vector<double> x10 = Vector.Load(c1), x11 = Vector.Load(c1 + v), x12 = Vector.Load(c1 + (2 * v)), x13 = Vector.Load(c1 + (3 * v));
        Vector<double> x20 = Vector.Load(c2), x21 = Vector.Load(c2 + v), x22 = Vector.Load(c2 + (2 * v)), x23 = Vector.Load(c2 + (3 * v));
        Vector<double> x30 = Vector.Load(c3), x31 = Vector.Load(c3 + v), x32 = Vector.Load(c3 + (2 * v)), x33 = Vector.Load(c3 + (3 * v));
        for (int k = k0; k < k1; k++)
        {
            double* bk = b + ((long)k * ldb);
            Vector<double> b0 = Vector.Load(bk), b1 = Vector.Load(bk + v), b2 = Vector.Load(bk + (2 * v)), b3 = Vector.Load(bk + (3 * v));
            var s = new Vector<double>(scale * a0[k]);
            x00 += b0 * s; x01 += b1 * s; x02 += b2 * s; x03 += b3 * s;
            s = new Vector<double>(scale * a1[k]);
            x10 += b0 * s; x11 += b1 * s; x12 += b2 * s; x13 += b3 * s;
            s = new Vector<double>(scale * a2[k]);
            x20 += b0 * s; x21 += b1 * s; x22 += b2 * s; x23 += b3 * s;
            s = new Vector<double>(scale * a3[k]);
            x30 += b0 * s; x31 += b1 * s; x32 += b2 * s; x33 += b3 * s;
        }
        x00.Store(c0); x01.Store(c0 + v); x02.Store(c0 + (2 * v)); x03.Store(c0 + (3 * v));
        x10.Store(c1); x11.Store(c1 + v); x12.Store(c1 + (2 * v)); x13.Store(c1 + (3 * v));
        x20.Store(c2); x21.Store(c2 + v); x22.Store(c2 + (2 * v)); x23.Store(c2 + (3 * v));
        x30.Store(c3); x31.Store(c3 + v); x32.Store(c3 + (2 * v)); x33.Store(c3 + (3 * v));
    }

    // One row, or the columns left over after the last full tile.
    private static void Scalar(double* a, double scale, double* b, int ldb, double* c, int width, int k0, int k1)
    {
        for (int k = k0; k < k1; k++)
        {
            double s = scale * a[k];
            double* bk = b + ((long)k * ldb);
            for (int j = 0; j < width; j++)
            {
                c[j] += bk[j] * s;
            }
        }
    }
}
