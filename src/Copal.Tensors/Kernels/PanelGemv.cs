using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Copal.Tensors.Kernels.VectorFma;

namespace Copal.Tensors.Kernels;

/// <summary>
/// y[i, j] = Σ_k x[i, k]·W[j, k] for one to a few input rows (decode, batched decode) over a matrix in
/// <see cref="WeightLayout.Panels"/>: for each column k, one line holds element k of a panel's 32 rows; it is
/// widened once and multiplied by x[i, k] broadcast, for every input row i. Each output keeps one accumulator lane,
/// summed over k in order from zero, so y[i, j] is the same to the bit whatever the number of rows and however
/// the panels are grouped: a sequence's logits do not depend on how many others share the step.
/// <para>
/// The weights are read once per call, in address order, with a software prefetch 128 lines ahead. In row-major
/// order, eight input rows took 2.2–3.1× the time of one (their inputs had to be kept in L1 beside the weight
/// stream, in 256-column passes with the accumulators spilled between them); over panels with the prefetch,
/// 1.27–1.32× (`probe panel` on TinyLlama's shapes, docs/serving.md).
/// </para>
/// </summary>
internal static unsafe class PanelGemv
{
    private const int PanelRows = WeightMatrix.PanelRows;

    /// <summary>Lines the prefetch runs ahead of the line being multiplied (8 KiB of BF16): the best of 0, 8, 32, 64 and 128 measured.</summary>
    private const int PrefetchLines = 128;

    /// <summary>
    /// y[i, j] for i &lt; n and j in [rowStart, rowEnd): x is [n, w.Cols], y is [n, w.Rows]. rowStart is a
    /// multiple of <see cref="WeightMatrix.PanelRows"/>; rowEnd too, or w.Rows.
    /// </summary>
    public static void Run(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        switch (w.DType)
        {
            case DType.F32: Run<F32Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16: Run<Bf16Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16 when w.FiniteVerified: RunF16Finite(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16: Run<F16Load>(x, n, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    /// <summary>
    /// Finite F16 with the ×2^112 of each weight's conversion moved onto the inputs, once per call
    /// (<see cref="F16InputScaling"/>): the same bits, fewer instructions per weight. Inputs that would overflow
    /// take the conversion with the multiply.
    /// </summary>
    private static void RunF16Finite(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        float* scaled = F16InputScaling.TryScale(x, (long)n * w.Cols);
        if (scaled != null)
        {
            Run<F16PrescaledLoad>(scaled, n, w, rowStart, rowEnd, y);
        }
        else
        {
            Run<F16FiniteLoad>(x, n, w, rowStart, rowEnd, y);
        }
    }

    [SkipLocalsInit]
    private static void Run<TLoad>(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IVectorWeightLoad
    {
        int cols = w.Cols, p = rowStart / PanelRows, pEnd = (rowEnd + PanelRows - 1) / PanelRows;
        nint ldy = w.Rows;
        // The kernels leave their sums here and this method moves them into y: a kernel that called anything
        // after its loop would have its accumulators spilled to the stack at every step (no vector register
        // survives a call), which made eight rows 1.6× slower.
        float* sums = stackalloc float[8 * PanelRows];
        if (n == 1)
        {
            // Two panels at a time: four independent sums per column instead of two.
            for (; p + 2 <= pEnd; p += 2)
            {
                OneTwoPanels<TLoad>(w.Panel(p), w.Panel(p + 1), x, cols, sums);
                Scatter(sums, 1, y + p * PanelRows, ldy, Live(w, p));
                Scatter(sums + PanelRows, 1, y + (p + 1) * PanelRows, ldy, Live(w, p + 1));
            }
        }
        for (; p < pEnd; p++)
        {
            byte* panel = w.Panel(p);
            float* yp = y + p * PanelRows;
            int live = Live(w, p), i = 0;
            for (; i + 8 <= n; i += 8)
            {
                Eight<TLoad>(panel, x + (nint)i * cols, cols, sums);
                Scatter(sums, 8, yp + i * ldy, ldy, live);
            }
            for (; i + 4 <= n; i += 4)
            {
                Four<TLoad>(panel, x + (nint)i * cols, cols, sums);
                Scatter(sums, 4, yp + i * ldy, ldy, live);
            }
            for (; i + 2 <= n; i += 2)
            {
                Two<TLoad>(panel, x + (nint)i * cols, cols, sums);
                Scatter(sums, 2, yp + i * ldy, ldy, live);
            }
            for (; i < n; i++)
            {
                One<TLoad>(panel, x + (nint)i * cols, cols, sums);
                Scatter(sums, 1, yp + i * ldy, ldy, live);
            }
        }
    }

    /// <summary>Input rows' sums for one panel ([rows][PanelRows] at sums) into y: the first <paramref name="live"/> of each.</summary>
    private static void Scatter(float* sums, int rows, float* y, nint ldy, int live)
    {
        for (int i = 0; i < rows; i++)
        {
            new ReadOnlySpan<float>(sums + i * PanelRows, live).CopyTo(new Span<float>(y + i * ldy, live));
        }
    }

    /// <summary>Rows of panel p that exist (the last panel's padding rows are not stored).</summary>
    private static int Live(in WeightMatrix w, int p) => Math.Min(PanelRows, w.Rows - p * PanelRows);

    /// <summary>Prefetches the line PrefetchLines after column k's (both cache lines of an F32 line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch<TLoad>(byte* panel, nint k)
        where TLoad : IVectorWeightLoad
    {
        if (Sse.IsSupported)
        {
            byte* ahead = panel + (k + PrefetchLines) * PanelRows * (TLoad.DType == DType.F32 ? 4 : 2);
            Sse.Prefetch0(ahead);
            if (TLoad.DType == DType.F32)
            {
                Sse.Prefetch0(ahead + 64);
            }
        }
    }

    /// <summary>Column k of a panel: rows 0–15 and 16–31 as f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Line<TLoad>(byte* panel, nint k, out Vector512<float> lo, out Vector512<float> hi)
        where TLoad : IVectorWeightLoad
    {
        lo = TLoad.Load16(panel, k * PanelRows);
        hi = TLoad.Load16(panel, k * PanelRows + 16);
    }

    private static void One<TLoad>(byte* panel, float* x, int cols, float* sums)
        where TLoad : IVectorWeightLoad
    {
        Vector512<float> a = default, b = default;
        for (nint k = 0; k < cols; k++)
        {
            Prefetch<TLoad>(panel, k);
            Line<TLoad>(panel, k, out Vector512<float> lo, out Vector512<float> hi);
            Vector512<float> xk = Vector512.Create(x[k]);
            a = Fma(lo, xk, a);
            b = Fma(hi, xk, b);
        }
        a.Store(sums);
        b.Store(sums + 16);
    }

    private static void OneTwoPanels<TLoad>(byte* p0, byte* p1, float* x, int cols, float* sums)
        where TLoad : IVectorWeightLoad
    {
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default;
        for (nint k = 0; k < cols; k++)
        {
            Prefetch<TLoad>(p0, k);
            Prefetch<TLoad>(p1, k);
            Vector512<float> xk = Vector512.Create(x[k]);
            Line<TLoad>(p0, k, out Vector512<float> lo, out Vector512<float> hi);
            a0 = Fma(lo, xk, a0);
            b0 = Fma(hi, xk, b0);
            Line<TLoad>(p1, k, out lo, out hi);
            a1 = Fma(lo, xk, a1);
            b1 = Fma(hi, xk, b1);
        }
        a0.Store(sums);
        b0.Store(sums + 16);
        a1.Store(sums + 32);
        b1.Store(sums + 48);
    }

    private static void Two<TLoad>(byte* panel, float* x, int cols, float* sums)
        where TLoad : IVectorWeightLoad
    {
        float* x0 = x, x1 = x + cols;
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default;
        for (nint k = 0; k < cols; k++)
        {
            Prefetch<TLoad>(panel, k);
            Line<TLoad>(panel, k, out Vector512<float> lo, out Vector512<float> hi);
            Vector512<float> xk;
            xk = Vector512.Create(x0[k]); a0 = Fma(lo, xk, a0); b0 = Fma(hi, xk, b0);
            xk = Vector512.Create(x1[k]); a1 = Fma(lo, xk, a1); b1 = Fma(hi, xk, b1);
        }
        a0.Store(sums + 0);
        b0.Store(sums + 16);
        a1.Store(sums + 32);
        b1.Store(sums + 48);
    }

    private static void Four<TLoad>(byte* panel, float* x, int cols, float* sums)
        where TLoad : IVectorWeightLoad
    {
        float* x0 = x, x1 = x + cols, x2 = x + 2 * cols, x3 = x + 3 * cols;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (nint k = 0; k < cols; k++)
        {
            Prefetch<TLoad>(panel, k);
            Line<TLoad>(panel, k, out Vector512<float> lo, out Vector512<float> hi);
            Vector512<float> xk;
            xk = Vector512.Create(x0[k]); a0 = Fma(lo, xk, a0); b0 = Fma(hi, xk, b0);
            xk = Vector512.Create(x1[k]); a1 = Fma(lo, xk, a1); b1 = Fma(hi, xk, b1);
            xk = Vector512.Create(x2[k]); a2 = Fma(lo, xk, a2); b2 = Fma(hi, xk, b2);
            xk = Vector512.Create(x3[k]); a3 = Fma(lo, xk, a3); b3 = Fma(hi, xk, b3);
        }
        a0.Store(sums + 0);
        b0.Store(sums + 16);
        a1.Store(sums + 32);
        b1.Store(sums + 48);
        a2.Store(sums + 64);
        b2.Store(sums + 80);
        a3.Store(sums + 96);
        b3.Store(sums + 112);
    }

    /// <summary>Eight input rows against one panel: 16 accumulators, each widened line feeding 16 FMAs.</summary>
    private static void Eight<TLoad>(byte* panel, float* x, int cols, float* sums)
        where TLoad : IVectorWeightLoad
    {
        float* x0 = x, x1 = x + cols, x2 = x + 2 * cols, x3 = x + 3 * cols;
        float* x4 = x + 4 * cols, x5 = x + 5 * cols, x6 = x + 6 * cols, x7 = x + 7 * cols;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (nint k = 0; k < cols; k++)
        {
            Prefetch<TLoad>(panel, k);
            Line<TLoad>(panel, k, out Vector512<float> lo, out Vector512<float> hi);
            Vector512<float> xk;
            xk = Vector512.Create(x0[k]); a0 = Fma(lo, xk, a0); b0 = Fma(hi, xk, b0);
            xk = Vector512.Create(x1[k]); a1 = Fma(lo, xk, a1); b1 = Fma(hi, xk, b1);
            xk = Vector512.Create(x2[k]); a2 = Fma(lo, xk, a2); b2 = Fma(hi, xk, b2);
            xk = Vector512.Create(x3[k]); a3 = Fma(lo, xk, a3); b3 = Fma(hi, xk, b3);
            xk = Vector512.Create(x4[k]); a4 = Fma(lo, xk, a4); b4 = Fma(hi, xk, b4);
            xk = Vector512.Create(x5[k]); a5 = Fma(lo, xk, a5); b5 = Fma(hi, xk, b5);
            xk = Vector512.Create(x6[k]); a6 = Fma(lo, xk, a6); b6 = Fma(hi, xk, b6);
            xk = Vector512.Create(x7[k]); a7 = Fma(lo, xk, a7); b7 = Fma(hi, xk, b7);
        }
        a0.Store(sums + 0);
        b0.Store(sums + 16);
        a1.Store(sums + 32);
        b1.Store(sums + 48);
        a2.Store(sums + 64);
        b2.Store(sums + 80);
        a3.Store(sums + 96);
        b3.Store(sums + 112);
        a4.Store(sums + 128);
        b4.Store(sums + 144);
        a5.Store(sums + 160);
        b5.Store(sums + 176);
        a6.Store(sums + 192);
        b6.Store(sums + 208);
        a7.Store(sums + 224);
        b7.Store(sums + 240);
    }
}
