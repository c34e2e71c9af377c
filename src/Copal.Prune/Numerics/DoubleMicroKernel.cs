using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Prune.Numerics;

/// <summary>
/// The register tile of the double factorizations: C[12, 16] += Ap·Bp over a depth of kc, where Ap is a packed sliver
/// [kc][12] and Bp a packed sliver [kc][16] (<see cref="SliverPacking"/>). It is Copal.Tensors' f32
/// <c>GemmMicroKernel</c> in double: 24 Vector512 accumulators, two B vectors and a broadcast (27 of the 32 zmm
/// registers), 24 fused multiply-adds for every 12 broadcasts and 2 loads; without AVX-512 the same packed layout runs
/// as four 6×8 Vector256 quarter tiles (twelve accumulators each, within the sixteen AVX2 registers).
/// </summary>
/// <remarks>
/// Every element of C gets the same arithmetic on every path: c = fma(a_k, b_k, c) for k ascending, one rounding each.
/// So the 512-bit, 256-bit and <see cref="RunEdge"/> paths agree to the bit, and a result never depends on which
/// tile (edge or not) or thread computed an element: SparseGPT's output stays identical across machines' SIMD widths
/// and thread counts.
/// </remarks>
internal static unsafe class DoubleMicroKernel
{
    /// <summary>Rows of the register tile.</summary>
    public const int MR = 12;

    /// <summary>Columns of the register tile.</summary>
    public const int NR = 16;

    /// <summary>
    /// c[i·ldc + j] += Σ_k ap[k·MR + i]·bp[k·NR + j] for i &lt; MR, j &lt; NR. <paramref name="wide"/> uses 512-bit vectors
    /// where the hardware has them (tests turn it off to run the other path).
    /// </summary>
    public static void Run(double* ap, double* bp, int kc, double* c, nint ldc, bool wide)
    {
        if (wide && Vector512.IsHardwareAccelerated)
        {
            Run512(ap, bp, kc, c, ldc);
        }
        else
        {
            Quarter256(ap, bp, kc, c, ldc);
            Quarter256(ap, bp + 8, kc, c + 8, ldc);
            Quarter256(ap + 6, bp, kc, c + (6 * ldc), ldc);
            Quarter256(ap + 6, bp + 8, kc, c + (6 * ldc) + 8, ldc);
        }
    }

    /// <summary>
    /// A tile cut by the matrix edge or the diagonal: the elements kept (row i &lt; <paramref name="rows"/>, column
    /// j &lt; <paramref name="cols"/> and j ≤ <paramref name="lastColumnOfRow0"/> + i) are copied into a local tile (the
    /// rest zero), the full tile runs there, and only they are written back, so nothing else is read or written. An
    /// element depends only on its own row of the A sliver and column of the B sliver, so the slivers' padding past the
    /// edge feeds only elements that are dropped (it is zero so those never compute on uninitialised memory).
    /// </summary>
    public static void RunEdge(double* ap, double* bp, int kc, double* c, nint ldc, int rows, int cols, int lastColumnOfRow0, bool wide)
    {
        double* tile = stackalloc double[MR * NR];
        for (int i = 0; i < MR; i++)
        {
            int width = Width(i, rows, cols, lastColumnOfRow0);
            for (int j = 0; j < NR; j++)
            {
                tile[(i * NR) + j] = j < width ? c[(i * ldc) + j] : 0;
            }
        }
        Run(ap, bp, kc, tile, NR, wide);
        for (int i = 0; i < rows; i++)
        {
            int width = Width(i, rows, cols, lastColumnOfRow0);
            for (int j = 0; j < width; j++)
            {
                c[(i * ldc) + j] = tile[(i * NR) + j];
            }
        }
    }

    // Columns of row i to keep: all valid ones, or up to the diagonal when it crosses the tile (lastColumnOfRow0 + i).
    private static int Width(int i, int rows, int cols, int lastColumnOfRow0) =>
        i >= rows ? 0 : Math.Clamp(lastColumnOfRow0 + i + 1, 0, cols);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run512(double* ap, double* bp, int kc, double* c, nint ldc)
    {
        Vector512<double> c00a = Vector512.Load(c), c00b = Vector512.Load(c + 8);
        Vector512<double> c01a = Vector512.Load(c + ldc), c01b = Vector512.Load(c + ldc + 8);
        Vector512<double> c02a = Vector512.Load(c + (2 * ldc)), c02b = Vector512.Load(c + (2 * ldc) + 8);
        Vector512<double> c03a = Vector512.Load(c + (3 * ldc)), c03b = Vector512.Load(c + (3 * ldc) + 8);
        Vector512<double> c04a = Vector512.Load(c + (4 * ldc)), c04b = Vector512.Load(c + (4 * ldc) + 8);
        Vector512<double> c05a = Vector512.Load(c + (5 * ldc)), c05b = Vector512.Load(c + (5 * ldc) + 8);
        Vector512<double> c06a = Vector512.Load(c + (6 * ldc)), c06b = Vector512.Load(c + (6 * ldc) + 8);
        Vector512<double> c07a = Vector512.Load(c + (7 * ldc)), c07b = Vector512.Load(c + (7 * ldc) + 8);
        Vector512<double> c08a = Vector512.Load(c + (8 * ldc)), c08b = Vector512.Load(c + (8 * ldc) + 8);
        Vector512<double> c09a = Vector512.Load(c + (9 * ldc)), c09b = Vector512.Load(c + (9 * ldc) + 8);
        Vector512<double> c10a = Vector512.Load(c + (10 * ldc)), c10b = Vector512.Load(c + (10 * ldc) + 8);
        Vector512<double> c11a = Vector512.Load(c + (11 * ldc)), c11b = Vector512.Load(c + (11 * ldc) + 8);
        for (int k = 0; k < kc; k++)
        {
            Vector512<double> b0 = Vector512.Load(bp);
            Vector512<double> b1 = Vector512.Load(bp + 8);
            Vector512<double> a00 = Vector512.Create(ap[0]);
            c00a = Vector512.FusedMultiplyAdd(a00, b0, c00a);
            c00b = Vector512.FusedMultiplyAdd(a00, b1, c00b);
            Vector512<double> a01 = Vector512.Create(ap[1]);
            c01a = Vector512.FusedMultiplyAdd(a01, b0, c01a);
            c01b = Vector512.FusedMultiplyAdd(a01, b1, c01b);
            Vector512<double> a02 = Vector512.Create(ap[2]);
            c02a = Vector512.FusedMultiplyAdd(a02, b0, c02a);
            c02b = Vector512.FusedMultiplyAdd(a02, b1, c02b);
            Vector512<double> a03 = Vector512.Create(ap[3]);
            c03a = Vector512.FusedMultiplyAdd(a03, b0, c03a);
            c03b = Vector512.FusedMultiplyAdd(a03, b1, c03b);
            Vector512<double> a04 = Vector512.Create(ap[4]);
            c04a = Vector512.FusedMultiplyAdd(a04, b0, c04a);
            c04b = Vector512.FusedMultiplyAdd(a04, b1, c04b);
            Vector512<double> a05 = Vector512.Create(ap[5]);
            c05a = Vector512.FusedMultiplyAdd(a05, b0, c05a);
            c05b = Vector512.FusedMultiplyAdd(a05, b1, c05b);
            Vector512<double> a06 = Vector512.Create(ap[6]);
            c06a = Vector512.FusedMultiplyAdd(a06, b0, c06a);
            c06b = Vector512.FusedMultiplyAdd(a06, b1, c06b);
            Vector512<double> a07 = Vector512.Create(ap[7]);
            c07a = Vector512.FusedMultiplyAdd(a07, b0, c07a);
            c07b = Vector512.FusedMultiplyAdd(a07, b1, c07b);
            Vector512<double> a08 = Vector512.Create(ap[8]);
            c08a = Vector512.FusedMultiplyAdd(a08, b0, c08a);
            c08b = Vector512.FusedMultiplyAdd(a08, b1, c08b);
            Vector512<double> a09 = Vector512.Create(ap[9]);
            c09a = Vector512.FusedMultiplyAdd(a09, b0, c09a);
            c09b = Vector512.FusedMultiplyAdd(a09, b1, c09b);
            Vector512<double> a10 = Vector512.Create(ap[10]);
            c10a = Vector512.FusedMultiplyAdd(a10, b0, c10a);
            c10b = Vector512.FusedMultiplyAdd(a10, b1, c10b);
            Vector512<double> a11 = Vector512.Create(ap[11]);
            c11a = Vector512.FusedMultiplyAdd(a11, b0, c11a);
            c11b = Vector512.FusedMultiplyAdd(a11, b1, c11b);
            ap += MR;
            bp += NR;
        }
        c00a.Store(c); c00b.Store(c + 8);
        c01a.Store(c + ldc); c01b.Store(c + ldc + 8);
        c02a.Store(c + (2 * ldc)); c02b.Store(c + (2 * ldc) + 8);
        c03a.Store(c + (3 * ldc)); c03b.Store(c + (3 * ldc) + 8);
        c04a.Store(c + (4 * ldc)); c04b.Store(c + (4 * ldc) + 8);
        c05a.Store(c + (5 * ldc)); c05b.Store(c + (5 * ldc) + 8);
        c06a.Store(c + (6 * ldc)); c06b.Store(c + (6 * ldc) + 8);
        c07a.Store(c + (7 * ldc)); c07b.Store(c + (7 * ldc) + 8);
        c08a.Store(c + (8 * ldc)); c08b.Store(c + (8 * ldc) + 8);
        c09a.Store(c + (9 * ldc)); c09b.Store(c + (9 * ldc) + 8);
        c10a.Store(c + (10 * ldc)); c10b.Store(c + (10 * ldc) + 8);
        c11a.Store(c + (11 * ldc)); c11b.Store(c + (11 * ldc) + 8);
    }

    /// <summary>One 6×8 quarter of the tile in Vector256: rows from <paramref name="ap"/> (stride MR), columns from <paramref name="bp"/> (stride NR).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quarter256(double* ap, double* bp, int kc, double* c, nint ldc)
    {
        Vector256<double> c00 = Vector256.Load(c), c01 = Vector256.Load(c + 4);
        Vector256<double> c10 = Vector256.Load(c + ldc), c11 = Vector256.Load(c + ldc + 4);
        Vector256<double> c20 = Vector256.Load(c + (2 * ldc)), c21 = Vector256.Load(c + (2 * ldc) + 4);
        Vector256<double> c30 = Vector256.Load(c + (3 * ldc)), c31 = Vector256.Load(c + (3 * ldc) + 4);
        Vector256<double> c40 = Vector256.Load(c + (4 * ldc)), c41 = Vector256.Load(c + (4 * ldc) + 4);
        Vector256<double> c50 = Vector256.Load(c + (5 * ldc)), c51 = Vector256.Load(c + (5 * ldc) + 4);
        for (int k = 0; k < kc; k++)
        {
            Vector256<double> b0 = Vector256.Load(bp);
            Vector256<double> b1 = Vector256.Load(bp + 4);
            Vector256<double> a0 = Vector256.Create(ap[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<double> a1 = Vector256.Create(ap[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<double> a2 = Vector256.Create(ap[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<double> a3 = Vector256.Create(ap[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<double> a4 = Vector256.Create(ap[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<double> a5 = Vector256.Create(ap[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            ap += MR;
            bp += NR;
        }
        c00.Store(c); c01.Store(c + 4);
        c10.Store(c + ldc); c11.Store(c + ldc + 4);
        c20.Store(c + (2 * ldc)); c21.Store(c + (2 * ldc) + 4);
        c30.Store(c + (3 * ldc)); c31.Store(c + (3 * ldc) + 4);
        c40.Store(c + (4 * ldc)); c41.Store(c + (4 * ldc) + 4);
        c50.Store(c + (5 * ldc)); c51.Store(c + (5 * ldc) + 4);
    }
}
