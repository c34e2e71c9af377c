using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// The register tile shared by <see cref="Gemm"/> and <see cref="Gram"/>: C[6, 16] += Ap · Bp over a depth of kc,
/// where Ap is a packed sliver [kc][6] and Bp a packed sliver [kc][16]. Twelve Vector256 accumulators, two B
/// vectors and one broadcast fill fifteen of the sixteen AVX2 registers.
/// </summary>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Rows of the register tile (rows of X).</summary>
    public const int MR = 6;

    /// <summary>Columns of the register tile (output features).</summary>
    public const int NR = 16;

    /// <summary>c[i * ldc + j] += Σ_k ap[k * MR + i] · bp[k * NR + j] for i &lt; MR, j &lt; NR.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* ap, float* bp, int kc, float* c, nint ldc)
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
            Vector256<float> a = Vector256.Create(ap[0]);
            c00 = Vector256.FusedMultiplyAdd(a, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a, b1, c01);
            a = Vector256.Create(ap[1]);
            c10 = Vector256.FusedMultiplyAdd(a, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a, b1, c11);
            a = Vector256.Create(ap[2]);
            c20 = Vector256.FusedMultiplyAdd(a, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a, b1, c21);
            a = Vector256.Create(ap[3]);
            c30 = Vector256.FusedMultiplyAdd(a, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a, b1, c31);
            a = Vector256.Create(ap[4]);
            c40 = Vector256.FusedMultiplyAdd(a, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a, b1, c41);
            a = Vector256.Create(ap[5]);
            c50 = Vector256.FusedMultiplyAdd(a, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a, b1, c51);
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
