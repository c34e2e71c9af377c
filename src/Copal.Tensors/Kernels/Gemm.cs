using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Y[n, out] = X[n, in] · Wᵀ for several input rows (prefill, calibration), blocked in the Goto/BLIS way: a
/// KC-deep slab of X is packed into MR-row slivers once per slab, a block of NC weight rows is converted to f32
/// and packed into NR-column slivers (a small per-thread buffer, never a copy of the whole weight), and the
/// register tile of <see cref="GemmMicroKernel"/> runs over every sliver pair. One KC×NR weight sliver and one
/// KC×MR X sliver fit in L1; the NC×KC weight block in L2.
/// </summary>
internal static unsafe class Gemm
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
        if (w.IsPanels && rowStart % GemmMicroKernel.NR != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rowStart), FormattableString.Invariant($"a panel matrix's row range starts at a multiple of {GemmMicroKernel.NR}, got {rowStart}"));
        }
        switch (w.DType)
        {
            case DType.F32: Run<F32Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16: Run<Bf16Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16 when w.FiniteVerified: Run<F16FiniteLoad>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16: Run<F16Load>(x, n, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    private static void Run<TLoad>(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IWeightLoad
    {
        const int MR = GemmMicroKernel.MR;
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
        float* packA = PackScratch.X((long)aSlivers * MR * KC + PackXOverrun);
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
                MultiplyBlock(packA, n, packB, nc, kc, y + jc, ldy, tile);
            }
        }
    }

    /// <summary>
    /// y[i, j] += Σ_k X[i, k] · W[j, k] for i &lt; n, j &lt; nc over one packed slab: packA holds every X sliver
    /// ([kc][MR] each, as <see cref="PackX"/> writes them), packB the block's weight slivers ([kc][NR] each).
    /// </summary>
    internal static void MultiplyBlock(float* packA, int n, float* packB, int nc, int kc, float* y, nint ldy, float* tile)
    {
        const int MR = GemmMicroKernel.MR, NR = GemmMicroKernel.NR;
        int aSlivers = (n + MR - 1) / MR;
        for (int s = 0; s < aSlivers; s++)
        {
            int rows = Math.Min(MR, n - s * MR);
            float* ap = packA + (nint)s * MR * kc;
            float* yRow = y + s * MR * ldy;
            for (int t = 0; t * NR < nc; t++)
            {
                int cols = Math.Min(NR, nc - t * NR);
                float* bp = packB + (nint)t * NR * kc;
                float* c = yRow + t * NR;
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

    /// <summary>Floats <see cref="PackX"/> may write past the slivers it packs; callers allocate that much more.</summary>
    internal const int PackXOverrun = 4;

    /// <summary>
    /// X[:, pc:pc+kc] into slivers [kc][MR], rows past n zero. With AVX, eight k at a time go through two 8×8
    /// transposes in registers (rows 0–7, and rows 8–11 beside four zero rows) instead of 96 scalar stores: with
    /// a small weight (64 output features) packing X cost half as much as multiplying it. The rows 8–11 stores
    /// are 8 floats wide for 4 useful ones; each runs into the next k's rows 0–3, written right after (or, for
    /// the last k, by the next sliver, or into the <see cref="PackXOverrun"/> floats past the last one).
    /// </summary>
    internal static void PackX(float* x, int n, int ld, int pc, int kc, float* packA)
    {
        const int MR = GemmMicroKernel.MR;
        for (int i0 = 0; i0 < n; i0 += MR)
        {
            float* dst = packA + (nint)(i0 / MR) * MR * kc;
            int live = Math.Min(MR, n - i0);
            float* rows = x + (nint)i0 * ld + pc;
            int kk = 0;
            if (Transpose8x8.IsSupported)
            {
                for (; kk + 8 <= kc; kk += 8)
                {
                    float* src = rows + kk;
                    Vector256<float> zero = Vector256<float>.Zero;
                    Transpose8x8.Store(
                        Row8(src, ld, 8, live), Row8(src, ld, 9, live), Row8(src, ld, 10, live), Row8(src, ld, 11, live),
                        zero, zero, zero, zero, dst + (nint)kk * MR + 8, MR);
                    Transpose8x8.Store(
                        Row8(src, ld, 0, live), Row8(src, ld, 1, live), Row8(src, ld, 2, live), Row8(src, ld, 3, live),
                        Row8(src, ld, 4, live), Row8(src, ld, 5, live), Row8(src, ld, 6, live), Row8(src, ld, 7, live),
                        dst + (nint)kk * MR, MR);
                }
            }
            for (int ii = 0; ii < MR; ii++)
            {
                float* src = rows + (nint)ii * ld;
                for (int k = kk; k < kc; k++)
                {
                    dst[k * MR + ii] = ii < live ? src[k] : 0f;
                }
            }
        }
    }

    /// <summary>Eight floats of row <paramref name="i"/> of a sliver, or zeros for a row past the matrix.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Row8(float* src, int ld, int i, int live) =>
        i < live ? Vector256.Load(src + (nint)i * ld) : Vector256<float>.Zero;

    /// <summary>Weight rows a block of <paramref name="nc"/> occupies once packed: whole NR-wide slivers.</summary>
    internal static int PackedRows(int nc) => GemmMicroKernel.NR * ((nc + GemmMicroKernel.NR - 1) / GemmMicroKernel.NR);

    /// <summary>
    /// Where packed weight row <paramref name="j"/> of a block starts: its sliver's [kc][NR] panel plus its lane.
    /// Element k of the row sits NR floats after element k − 1; a group of eight rows from a multiple of 8 shares
    /// each 8-float run, which <see cref="Transpose8x8"/> writes in one store.
    /// </summary>
    internal static float* PackedRow(float* packB, int j, int kc)
        => packB + (nint)(j / GemmMicroKernel.NR) * GemmMicroKernel.NR * kc + j % GemmMicroKernel.NR;

    /// <summary>W[jc:jc+nc, pc:pc+kc] converted to f32 into slivers [kc][NR], rows past nc zero (of a panel matrix: its padding, or rows no output is stored for).</summary>
    private static void PackWeight<TLoad>(in WeightMatrix w, int jc, int nc, int pc, int kc, float* packB)
        where TLoad : IWeightLoad
    {
        const int NR = GemmMicroKernel.NR;
        if (w.IsPanels)
        {
            PackPanels<TLoad>(w, jc, nc, pc, kc, packB);
            return;
        }
        for (int j0 = 0; j0 < PackedRows(nc); j0 += 8)
        {
            // Eight rows at a time: 8-column chunks load into registers and go out transposed.
            float* group = PackedRow(packB, j0, kc);
            int live = Math.Clamp(nc - j0, 0, 8);
            int kk = 0;
            if (live == 8 && Transpose8x8.IsSupported)
            {
                byte* r0 = w.Row(jc + j0), r1 = w.Row(jc + j0 + 1), r2 = w.Row(jc + j0 + 2), r3 = w.Row(jc + j0 + 3);
                byte* r4 = w.Row(jc + j0 + 4), r5 = w.Row(jc + j0 + 5), r6 = w.Row(jc + j0 + 6), r7 = w.Row(jc + j0 + 7);
                for (; kk + 8 <= kc; kk += 8)
                {
                    nint c = pc + kk;
                    Transpose8x8.Store(
                        TLoad.Load8(r0, c), TLoad.Load8(r1, c), TLoad.Load8(r2, c), TLoad.Load8(r3, c),
                        TLoad.Load8(r4, c), TLoad.Load8(r5, c), TLoad.Load8(r6, c), TLoad.Load8(r7, c),
                        group + (nint)kk * NR, NR);
                }
            }
            for (int i = 0; i < 8; i++)
            {
                float* column = group + i;
                byte* row = i < live ? w.Row(jc + j0 + i) : null;
                for (int k = kk; k < kc; k++)
                {
                    column[k * NR] = row != null ? TLoad.Load1(row, pc + k) : 0f;
                }
            }
        }
    }

    /// <summary>
    /// A panel matrix's slivers: a panel is a sliver already ([k][NR] with NR = <see cref="WeightMatrix.PanelRows"/>),
    /// so packing only widens it to f32, in order; jc is a multiple of NR.
    /// </summary>
    private static void PackPanels<TLoad>(in WeightMatrix w, int jc, int nc, int pc, int kc, float* packB)
        where TLoad : IWeightLoad
    {
        const int NR = GemmMicroKernel.NR;
        for (int s = 0; s * NR < nc; s++)
        {
            byte* panel = w.Panel(jc / NR + s);
            float* sliver = packB + (nint)s * NR * kc;
            for (int kk = 0; kk < kc; kk++)
            {
                nint at = (nint)(pc + kk) * NR;
                TLoad.Load16(panel, at).Store(sliver + (nint)kk * NR);
                TLoad.Load16(panel, at + 16).Store(sliver + (nint)kk * NR + 16);
            }
        }
    }
}
