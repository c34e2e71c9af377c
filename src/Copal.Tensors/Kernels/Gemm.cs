using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Y[n, out] = X[n, in] · Wᵀ for several input rows (prefill, calibration), blocked in the Goto/BLIS way: a
/// KC-deep slab of X is packed into MR-row slivers once per slab, a block of NC weight rows is converted to f32
/// and packed into NR-column slivers (a small per-thread buffer, never a copy of the whole weight), and the
/// register tile of <see cref="GemmMicroKernel"/> runs over every sliver pair. One KC×NR weight sliver and one
/// KC×MR X sliver fit in L1; the NC×KC weight block in L2.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>Depth of one packed slab (f32 elements).</summary>
    internal const int KC = 256;

    /// <summary>Weight rows packed per block; a multiple of NR.</summary>
    internal const int NC = 128;

    /// <summary>
    /// Computes y[i, j] for every i &lt; <paramref name="n"/> and j in [<paramref name="rowStart"/>, <paramref name="rowEnd"/>)
    /// (weight rows = output features). x is [n, weight.Cols], y is [n, weight.Rows]; other columns of y are untouched.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> x, int n, in WeightMatrix weight, int rowStart, int rowEnd, Span<float> y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if ((long)x.Length < (long)n * weight.Cols)
        {
            throw new ArgumentException($"x has {x.Length} elements, expected [{n}, {weight.Cols}] = {(long)n * weight.Cols}", nameof(x));
        }
        if ((long)y.Length < (long)n * weight.Rows)
        {
            throw new ArgumentException($"y has {y.Length} elements, expected [{n}, {weight.Rows}] = {(long)n * weight.Rows}", nameof(y));
        }
        if ((uint)rowStart > (uint)rowEnd || rowEnd > weight.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rowEnd), $"row range [{rowStart}, {rowEnd}) outside [0, {weight.Rows})");
        }
        fixed (float* px = x)
        fixed (float* py = y)
        {
            Run(px, n, weight, rowStart, rowEnd, py);
        }
    }

    internal static void Run(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        switch (w.DType)
        {
            case DType.F32: Run<F32Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16: Run<Bf16Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16: Run<F16Load>(x, n, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    private static void Run<TLoad>(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IWeightLoad
    {
        const int MR = GemmMicroKernel.MR, NR = GemmMicroKernel.NR;
        if (n == 0 || rowStart == rowEnd)
        {
            return;
        }
        int k = w.Cols;
        nint ldy = w.Rows;
        for (int i = 0; i < n; i++)
        {
            new Span<float>(y + i * ldy + rowStart, rowEnd - rowStart).Clear();
        }
        int aSlivers = (n + MR - 1) / MR;
        float* packA = PackScratch.X((long)aSlivers * MR * KC);
        float* packB = PackScratch.Weight((long)NC * KC);
        float* tile = PackScratch.Tile();
        for (int pc = 0; pc < k; pc += KC)
        {
            int kc = Math.Min(KC, k - pc);
            PackX(x, n, k, pc, kc, packA);
            for (int jc = rowStart; jc < rowEnd; jc += NC)
            {
                int nc = Math.Min(NC, rowEnd - jc);
                PackWeight<TLoad>(w, jc, nc, pc, kc, packB);
                for (int s = 0; s < aSlivers; s++)
                {
                    int rows = Math.Min(MR, n - s * MR);
                    float* ap = packA + (nint)s * MR * kc;
                    float* yRow = y + s * MR * ldy;
                    for (int t = 0; t * NR < nc; t++)
                    {
                        int cols = Math.Min(NR, nc - t * NR);
                        float* bp = packB + (nint)t * NR * kc;
                        float* c = yRow + jc + t * NR;
                        if (rows == MR && cols == NR)
                        {
                            GemmMicroKernel.Run(ap, bp, kc, c, ldy);
                        }
                        else
                        {
                            GemmMicroKernel.RunEdge(ap, bp, kc, c, ldy, rows, cols, tile);
                        }
                    }
                }
            }
        }
    }

    /// <summary>X[:, pc:pc+kc] into slivers [kc][MR], rows past n zero.</summary>
    private static void PackX(float* x, int n, int ld, int pc, int kc, float* packA)
    {
        const int MR = GemmMicroKernel.MR;
        for (int i0 = 0; i0 < n; i0 += MR)
        {
            float* dst = packA + (nint)(i0 / MR) * MR * kc;
            for (int ii = 0; ii < MR; ii++)
            {
                int i = i0 + ii;
                if (i < n)
                {
                    float* src = x + (nint)i * ld + pc;
                    for (int kk = 0; kk < kc; kk++)
                    {
                        dst[kk * MR + ii] = src[kk];
                    }
                }
                else
                {
                    for (int kk = 0; kk < kc; kk++)
                    {
                        dst[kk * MR + ii] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>W[jc:jc+nc, pc:pc+kc] converted to f32 into slivers [kc][NR], rows past nc zero.</summary>
    private static void PackWeight<TLoad>(in WeightMatrix w, int jc, int nc, int pc, int kc, float* packB)
        where TLoad : IWeightLoad
    {
        const int NR = GemmMicroKernel.NR;
        for (int t = 0; t * NR < nc; t++)
        {
            float* dst = packB + (nint)t * NR * kc;
            for (int jj = 0; jj < NR; jj++)
            {
                int j = t * NR + jj;
                if (j >= nc)
                {
                    for (int kk = 0; kk < kc; kk++)
                    {
                        dst[kk * NR + jj] = 0f;
                    }
                    continue;
                }
                byte* row = w.Row(jc + j);
                int kk2 = 0;
                for (; kk2 + 8 <= kc; kk2 += 8)
                {
                    var v = TLoad.Load8(row, pc + kk2);
                    float* d = dst + kk2 * NR + jj;
                    d[0] = v.GetElement(0);
                    d[NR] = v.GetElement(1);
                    d[2 * NR] = v.GetElement(2);
                    d[3 * NR] = v.GetElement(3);
                    d[4 * NR] = v.GetElement(4);
                    d[5 * NR] = v.GetElement(5);
                    d[6 * NR] = v.GetElement(6);
                    d[7 * NR] = v.GetElement(7);
                }
                for (; kk2 < kc; kk2++)
                {
                    dst[kk2 * NR + jj] = TLoad.Load1(row, pc + kk2);
                }
            }
        }
    }
}
