using System.Runtime.Intrinsics;
using static Copal.Tensors.Kernels.VectorFma;

namespace Copal.Tensors.Kernels;

/// <summary>
/// y[j] = Σ_k x[k]·W[j, k] for one input row (decode). Memory bound: W is streamed once, with two accumulators per
/// row to hide FMA latency. The Vector512 path takes one row at a time, so the weights are read as one sequential
/// stream, which the hardware prefetcher follows at the streaming rate: four rows at a time (four streams a row
/// apart, each load of x feeding four FMAs) took 1.1–1.35× as long on 1B-scale BF16 shapes with the weights coming
/// from memory (`probe batch`, docs/performance.md). The Vector256 path keeps four rows at a time; BF16 weights
/// take <see cref="Bf16PairGemv"/> there.
/// </summary>
internal static unsafe class Gemv
{
    /// <summary>
    /// Computes y[j] for j in [<paramref name="rowStart"/>, <paramref name="rowEnd"/>); <paramref name="y"/> is indexed by j.
    /// Over a panel matrix (<see cref="WeightLayout.Panels"/>) the range covers whole panels.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> x, in WeightMatrix weight, int rowStart, int rowEnd, Span<float> y)
    {
        if (x.Length < weight.Cols)
        {
            throw new ArgumentException($"x has {x.Length} elements, weight '{weight.Rows}x{weight.Cols}' needs {weight.Cols}", nameof(x));
        }
        if ((uint)rowStart > (uint)rowEnd || rowEnd > weight.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rowEnd), $"row range [{rowStart}, {rowEnd}) outside [0, {weight.Rows})");
        }
        if (y.Length < rowEnd)
        {
            throw new ArgumentException($"y has {y.Length} elements, needs {rowEnd}", nameof(y));
        }
        if (weight.IsPanels)
        {
            RequireWholePanels(weight, rowStart, rowEnd);
        }
        fixed (float* px = x)
        fixed (float* py = y)
        {
            if (weight.IsPanels)
            {
                // Rows of a panel matrix are not contiguous (WeightMatrix.Row is for the row-major layout only).
                PanelGemv.Run(px, 1, weight, rowStart, rowEnd, py);
            }
            else
            {
                Run(px, weight, rowStart, rowEnd, py);
            }
        }
    }

    /// <summary>
    /// A panel matrix's row range covers whole panels, as <see cref="PanelGemv"/> writes them: it starts at a
    /// multiple of <see cref="WeightMatrix.PanelRows"/> and ends at one or at the last row (an empty range anywhere).
    /// </summary>
    private static void RequireWholePanels(in WeightMatrix weight, int rowStart, int rowEnd)
    {
        const int R = WeightMatrix.PanelRows;
        if (rowStart == rowEnd)
        {
            return;
        }
        if (rowStart % R != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rowStart), FormattableString.Invariant(
                $"a panel matrix's row range must start at a multiple of {R}, got {rowStart}"));
        }
        if (rowEnd % R != 0 && rowEnd != weight.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rowEnd), FormattableString.Invariant(
                $"a panel matrix's row range must end at a multiple of {R} or at the last row ({weight.Rows}), got {rowEnd}"));
        }
    }

    internal static void Run(float* x, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        switch (w.DType)
        {
            case DType.F32: Rows<F32Load>(x, w, rowStart, rowEnd, y); break;
            case DType.BF16: Rows<Bf16Load>(x, w, rowStart, rowEnd, y); break;
            case DType.F16 when w.FiniteVerified: Rows<F16FiniteLoad>(x, w, rowStart, rowEnd, y); break;
            case DType.F16: Rows<F16Load>(x, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    private static void Rows<TLoad>(float* x, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IWeightLoad
    {
        int cols = w.Cols;
        int j = rowStart;
        if (KernelPaths.UseVector512 && cols >= 32)
        {
            for (; j < rowEnd; j++)
            {
                y[j] = One512<TLoad>(x, w.Row(j), cols);
            }
            return;
        }
        if (TLoad.DType == DType.BF16 && Bf16PairGemv.IsSupported)
        {
            Bf16PairGemv.Rows(x, w, j, rowEnd, y);
            return;
        }
        for (; j + 4 <= rowEnd; j += 4)
        {
            Four<TLoad>(x, w.Row(j), w.Row(j + 1), w.Row(j + 2), w.Row(j + 3), cols, y + j);
        }
        for (; j < rowEnd; j++)
        {
            y[j] = One<TLoad>(x, w.Row(j), cols);
        }
    }

    /// <summary>One row, 32 columns per step (accumulator a: chunks at k ≡ 0 mod 32, then the 16-wide tail; b: k ≡ 16), Σ(a + b), then the scalar tail.</summary>
    private static float One512<TLoad>(float* x, byte* w, int cols)
        where TLoad : IWeightLoad
    {
        Vector512<float> a = default, b = default;
        nint k = 0;
        for (; k + 32 <= cols; k += 32)
        {
            a = Fma(TLoad.Load16(w, k), Vector512.Load(x + k), a);
            b = Fma(TLoad.Load16(w, k + 16), Vector512.Load(x + k + 16), b);
        }
        if (k + 16 <= cols)
        {
            a = Fma(TLoad.Load16(w, k), Vector512.Load(x + k), a);
            k += 16;
        }
        float s = Vector512.Sum(a + b);
        for (; k < cols; k++)
        {
            s += TLoad.Load1(w, k) * x[k];
        }
        return s;
    }

    private static void Four<TLoad>(float* x, byte* w0, byte* w1, byte* w2, byte* w3, int cols, float* y)
        where TLoad : IWeightLoad
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            Vector256<float> xa = Vector256.Load(x + k);
            Vector256<float> xb = Vector256.Load(x + k + 8);
            a0 = Fma(TLoad.Load8(w0, k), xa, a0);
            a1 = Fma(TLoad.Load8(w1, k), xa, a1);
            a2 = Fma(TLoad.Load8(w2, k), xa, a2);
            a3 = Fma(TLoad.Load8(w3, k), xa, a3);
            b0 = Fma(TLoad.Load8(w0, k + 8), xb, b0);
            b1 = Fma(TLoad.Load8(w1, k + 8), xb, b1);
            b2 = Fma(TLoad.Load8(w2, k + 8), xb, b2);
            b3 = Fma(TLoad.Load8(w3, k + 8), xb, b3);
        }
        FinishFour<TLoad>(x, w0, w1, w2, w3, k, cols, a0, a1, a2, a3, b0, b1, b2, b3, y);
    }

    /// <summary>
    /// The end of four rows' sums from column <paramref name="k"/> (a multiple of 16) on: the 8-column tail into the
    /// first accumulators, the vector sums, the scalar tail. Both four-row kernels end this way, as <see cref="FinishOne{TLoad}"/>
    /// ends a single row, so a row sums alike alone or among four.
    /// </summary>
    internal static void FinishFour<TLoad>(float* x, byte* w0, byte* w1, byte* w2, byte* w3, nint k, int cols,
        Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> b0, Vector256<float> b1, Vector256<float> b2, Vector256<float> b3, float* y)
        where TLoad : IWeightLoad
    {
        if (k + 8 <= cols)
        {
            Vector256<float> xa = Vector256.Load(x + k);
            a0 = Fma(TLoad.Load8(w0, k), xa, a0);
            a1 = Fma(TLoad.Load8(w1, k), xa, a1);
            a2 = Fma(TLoad.Load8(w2, k), xa, a2);
            a3 = Fma(TLoad.Load8(w3, k), xa, a3);
            k += 8;
        }
        float s0 = Vector256.Sum(a0 + b0), s1 = Vector256.Sum(a1 + b1), s2 = Vector256.Sum(a2 + b2), s3 = Vector256.Sum(a3 + b3);
        for (; k < cols; k++)
        {
            float xk = x[k];
            s0 += TLoad.Load1(w0, k) * xk;
            s1 += TLoad.Load1(w1, k) * xk;
            s2 += TLoad.Load1(w2, k) * xk;
            s3 += TLoad.Load1(w3, k) * xk;
        }
        y[0] = s0;
        y[1] = s1;
        y[2] = s2;
        y[3] = s3;
    }

    private static float One<TLoad>(float* x, byte* w, int cols)
        where TLoad : IWeightLoad
    {
        Vector256<float> a = default, b = default;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            a = Fma(TLoad.Load8(w, k), Vector256.Load(x + k), a);
            b = Fma(TLoad.Load8(w, k + 8), Vector256.Load(x + k + 8), b);
        }
        return FinishOne<TLoad>(x, w, k, cols, a, b);
    }

    /// <summary>One row's <see cref="FinishFour{TLoad}"/>.</summary>
    internal static float FinishOne<TLoad>(float* x, byte* w, nint k, int cols, Vector256<float> a, Vector256<float> b)
        where TLoad : IWeightLoad
    {
        if (k + 8 <= cols)
        {
            a = Fma(TLoad.Load8(w, k), Vector256.Load(x + k), a);
            k += 8;
        }
        float s = Vector256.Sum(a + b);
        for (; k < cols; k++)
        {
            s += TLoad.Load1(w, k) * x[k];
        }
        return s;
    }
}
