using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// The register tile shared by <see cref="Gemm"/>, <see cref="Gram"/> and the sparse GEMM: C[12, 32] += Ap · Bp over a
/// depth of kc, where Ap is a packed sliver [kc][12] and Bp a packed sliver [kc][32].
/// </summary>
/// <remarks>
/// With AVX-512 the tile is 24 Vector512 accumulators, two B vectors and a broadcast: 27 of the 32 zmm registers,
/// 24 FMAs for every 12 broadcasts and 2 loads, and the JIT keeps all of it in registers. The earlier 6×16 Vector256
/// tile left half of each FMA unit idle on full-width AVX-512 hardware. Without AVX-512 the same packed layout runs
/// as four 6×16 Vector256 quarter tiles (twelve accumulators each, within the sixteen AVX2 registers), so packing
/// has one layout for both.
/// </remarks>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Rows of the register tile (rows of X).</summary>
    public const int MR = 12;

    /// <summary>Columns of the register tile (output features).</summary>
    public const int NR = 32;

    /// <summary>c[i * ldc + j] += Σ_k ap[k * MR + i] · bp[k * NR + j] for i &lt; MR, j &lt; NR.</summary>
    public static void Run(float* ap, float* bp, int kc, float* c, nint ldc)
    {
        if (KernelPaths.UseVector512)
        {
            Run512(ap, bp, kc, c, ldc);
        }
        else
        {
            Quarter256(ap, bp, kc, c, ldc);
            Quarter256(ap, bp + 16, kc, c + 16, ldc);
            Quarter256(ap + 6, bp, kc, c + 6 * ldc, ldc);
            Quarter256(ap + 6, bp + 16, kc, c + 6 * ldc + 16, ldc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run512(float* ap, float* bp, int kc, float* c, nint ldc)
    {
        Vector512<float> c00a = Vector512.Load(c), c00b = Vector512.Load(c + 16);
        Vector512<float> c01a = Vector512.Load(c + ldc), c01b = Vector512.Load(c + ldc + 16);
        Vector512<float> c02a = Vector512.Load(c + 2 * ldc), c02b = Vector512.Load(c + 2 * ldc + 16);
        Vector512<float> c03a = Vector512.Load(c + 3 * ldc), c03b = Vector512.Load(c + 3 * ldc + 16);
        Vector512<float> c04a = Vector512.Load(c + 4 * ldc), c04b = Vector512.Load(c + 4 * ldc + 16);
        Vector512<float> c05a = Vector512.Load(c + 5 * ldc), c05b = Vector512.Load(c + 5 * ldc + 16);
        Vector512<float> c06a = Vector512.Load(c + 6 * ldc), c06b = Vector512.Load(c + 6 * ldc + 16);
        Vector512<float> c07a = Vector512.Load(c + 7 * ldc), c07b = Vector512.Load(c + 7 * ldc + 16);
        Vector512<float> c08a = Vector512.Load(c + 8 * ldc), c08b = Vector512.Load(c + 8 * ldc + 16);
        Vector512<float> c09a = Vector512.Load(c + 9 * ldc), c09b = Vector512.Load(c + 9 * ldc + 16);
        Vector512<float> c10a = Vector512.Load(c + 10 * ldc), c10b = Vector512.Load(c + 10 * ldc + 16);
        Vector512<float> c11a = Vector512.Load(c + 11 * ldc), c11b = Vector512.Load(c + 11 * ldc + 16);
        for (int k = 0; k < kc; k++)
        {
            Vector512<float> b0 = Vector512.LoadAligned(bp);
            Vector512<float> b1 = Vector512.LoadAligned(bp + 16);
            Vector512<float> a00 = Vector512.Create(ap[0]);
            c00a = Vector512.FusedMultiplyAdd(a00, b0, c00a);
            c00b = Vector512.FusedMultiplyAdd(a00, b1, c00b);
            Vector512<float> a01 = Vector512.Create(ap[1]);
            c01a = Vector512.FusedMultiplyAdd(a01, b0, c01a);
            c01b = Vector512.FusedMultiplyAdd(a01, b1, c01b);
            Vector512<float> a02 = Vector512.Create(ap[2]);
            c02a = Vector512.FusedMultiplyAdd(a02, b0, c02a);
            c02b = Vector512.FusedMultiplyAdd(a02, b1, c02b);
            Vector512<float> a03 = Vector512.Create(ap[3]);
            c03a = Vector512.FusedMultiplyAdd(a03, b0, c03a);
            c03b = Vector512.FusedMultiplyAdd(a03, b1, c03b);
            Vector512<float> a04 = Vector512.Create(ap[4]);
            c04a = Vector512.FusedMultiplyAdd(a04, b0, c04a);
            c04b = Vector512.FusedMultiplyAdd(a04, b1, c04b);
            Vector512<float> a05 = Vector512.Create(ap[5]);
            c05a = Vector512.FusedMultiplyAdd(a05, b0, c05a);
            c05b = Vector512.FusedMultiplyAdd(a05, b1, c05b);
            Vector512<float> a06 = Vector512.Create(ap[6]);
            c06a = Vector512.FusedMultiplyAdd(a06, b0, c06a);
            c06b = Vector512.FusedMultiplyAdd(a06, b1, c06b);
            Vector512<float> a07 = Vector512.Create(ap[7]);
            c07a = Vector512.FusedMultiplyAdd(a07, b0, c07a);
            c07b = Vector512.FusedMultiplyAdd(a07, b1, c07b);
            Vector512<float> a08 = Vector512.Create(ap[8]);
            c08a = Vector512.FusedMultiplyAdd(a08, b0, c08a);
            c08b = Vector512.FusedMultiplyAdd(a08, b1, c08b);
            Vector512<float> a09 = Vector512.Create(ap[9]);
            c09a = Vector512.FusedMultiplyAdd(a09, b0, c09a);
            c09b = Vector512.FusedMultiplyAdd(a09, b1, c09b);
            Vector512<float> a10 = Vector512.Create(ap[10]);
            c10a = Vector512.FusedMultiplyAdd(a10, b0, c10a);
            c10b = Vector512.FusedMultiplyAdd(a10, b1, c10b);
            Vector512<float> a11 = Vector512.Create(ap[11]);
            c11a = Vector512.FusedMultiplyAdd(a11, b0, c11a);
            c11b = Vector512.FusedMultiplyAdd(a11, b1, c11b);
            ap += MR;
            bp += NR;
        }
        c00a.Store(c); c00b.Store(c + 16);
        c01a.Store(c + ldc); c01b.Store(c + ldc + 16);
        c02a.Store(c + 2 * ldc); c02b.Store(c + 2 * ldc + 16);
        c03a.Store(c + 3 * ldc); c03b.Store(c + 3 * ldc + 16);
        c04a.Store(c + 4 * ldc); c04b.Store(c + 4 * ldc + 16);
        c05a.Store(c + 5 * ldc); c05b.Store(c + 5 * ldc + 16);
        c06a.Store(c + 6 * ldc); c06b.Store(c + 6 * ldc + 16);
        c07a.Store(c + 7 * ldc); c07b.Store(c + 7 * ldc + 16);
        c08a.Store(c + 8 * ldc); c08b.Store(c + 8 * ldc + 16);
        c09a.Store(c + 9 * ldc); c09b.Store(c + 9 * ldc + 16);
        c10a.Store(c + 10 * ldc); c10b.Store(c + 10 * ldc + 16);
        c11a.Store(c + 11 * ldc); c11b.Store(c + 11 * ldc + 16);
    }

    /// <summary>
    /// One 6×16 quarter of the tile in Vector256: rows from <paramref name="ap"/> (stride MR), columns from
    /// <paramref name="bp"/> (stride NR).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quarter256(float* ap, float* bp, int kc, float* c, nint ldc)
    {
        Vector256<float> c00 = Vector256.Load(c), c01 = Vector256.Load(c + 8);
        Vector256<float> c10 = Vector256.Load(c + ldc), c11 = Vector256.Load(c + ldc + 8);
        Vector256<float> c20 = Vector256.Load(c + 2 * ldc), c21 = Vector256.Load(c + 2 * ldc + 8);
        Vector256<float> c30 = Vector256.Load(c + 3 * ldc), c31 = Vector256.Load(c + 3 * ldc + 8);
        Vector256<float> c40 = Vector256.Load(c + 4 * ldc), c41 = Vector256.Load(c + 4 * ldc + 8);
        Vector256<float> c50 = Vector256.Load(c + 5 * ldc), c51 = Vector256.Load(c + 5 * ldc + 8);
        for (int k = 0; k < kc; k++)
        {
            Vector256<float> b0 = Vector256.LoadAligned(bp);
            Vector256<float> b1 = Vector256.LoadAligned(bp + 8);
            Vector256<float> a0 = Vector256.Create(ap[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(ap[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(ap[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(ap[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(ap[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Vector256.Create(ap[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            ap += MR;
            bp += NR;
        }
        c00.Store(c); c01.Store(c + 8);
        c10.Store(c + ldc); c11.Store(c + ldc + 8);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 8);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 8);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 8);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 8);
    }

    /// <summary>
    /// A tile cut by the matrix edge: computes the full tile into <paramref name="tile"/> (zeroed here) from
    /// zero-padded slivers, then adds its valid <paramref name="rows"/>×<paramref name="cols"/> corner into c.
    /// </summary>
    public static void RunEdge(float* ap, float* bp, int kc, float* c, nint ldc, int rows, int cols, float* tile)
    {
        new Span<float>(tile, MR * NR).Clear();
        Run(ap, bp, kc, tile, NR);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                c[i * ldc + j] += tile[i * NR + j];
            }
        }
    }
}
