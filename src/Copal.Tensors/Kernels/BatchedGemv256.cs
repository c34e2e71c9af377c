using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static Copal.Tensors.Kernels.VectorFma;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Batched decode's y[i, j] = Σ_k x[i, k]·W[j, k] on the Vector256 path (AVX2 machines), where
/// <see cref="BatchedGemv"/> (Vector512 code) does not serve: each weight row is loaded and converted once for four
/// input rows, whose accumulators it feeds, where running the single-row GEMV once per input converted it once per
/// input. Blocks of weight rows small enough to stay in cache (about 32 KiB) are read from memory once and re-read
/// from cache for each group of four inputs.
/// <para>
/// Every y[i, j] is summed exactly as <see cref="Gemv"/>'s Vector256 path sums it alone (for BF16, as
/// <see cref="Bf16PairGemv"/> does, with x's even and odd columns arranged once per call rather than shuffled per
/// step), and ends through the same <see cref="Gemv.FinishOne{TLoad}"/>: a sequence's logits do not depend on how
/// many others share the step.
/// </para>
/// </summary>
internal static unsafe class BatchedGemv256
{
    /// <summary>Input rows one tile serves.</summary>
    public const int TileInputs = 4;

    /// <summary>Whether <see cref="Run"/> serves: the Vector256 path, row-major weights, at least one whole tile of inputs.</summary>
    public static bool Serves(in WeightMatrix w, int n) => !KernelPaths.UseVector512 && !w.IsPanels && n >= TileInputs;

    /// <summary>y[i, j] for i &lt; n, j in [rowStart, rowEnd): x is [n, w.Cols], y is [n, w.Rows].</summary>
    public static void Run(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        switch (w.DType)
        {
            case DType.F32: Run<F32Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16 when Bf16PairGemv.IsSupported: RunPairs(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16: Run<Bf16Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16 when w.FiniteVerified: Run<F16FiniteLoad>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16: Run<F16Load>(x, n, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    /// <summary>Weight rows of one block: about 32 KiB of weights, so a block stays in cache while every input passes over it.</summary>
    private static int BlockRows(in WeightMatrix w) => Math.Max(1, (int)(32 * 1024 / Math.Max(1L, (long)w.Cols * w.ElementSize)));

    private static void Run<TLoad>(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IWeightLoad
    {
        int cols = w.Cols, rows = w.Rows, block = BlockRows(w);
        for (int j0 = rowStart; j0 < rowEnd; j0 += block)
        {
            int j1 = Math.Min(rowEnd, j0 + block);
            int i = 0;
            for (; i + TileInputs <= n; i += TileInputs)
            {
                float* x0 = x + ((nint)i * cols);
                for (int j = j0; j < j1; j++)
                {
                    Tile<TLoad>(x0, cols, w.Row(j), y + ((nint)i * rows) + j, rows);
                }
            }
            for (; i < n; i++)
            {
                Gemv.Run(x + ((nint)i * cols), w, j0, j1, y + ((nint)i * rows));
            }
        }
    }

    /// <summary>One weight row against four inputs (x rows <paramref name="cols"/> apart; outputs <paramref name="outStride"/> apart).</summary>
    private static void Tile<TLoad>(float* x, int cols, byte* w, float* y, int outStride)
        where TLoad : IWeightLoad
    {
        float* x1 = x + cols, x2 = x1 + cols, x3 = x2 + cols;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            Vector256<float> wa = TLoad.Load8(w, k), wb = TLoad.Load8(w, k + 8);
            a0 = Fma(wa, Vector256.Load(x + k), a0);
            a1 = Fma(wa, Vector256.Load(x1 + k), a1);
            a2 = Fma(wa, Vector256.Load(x2 + k), a2);
            a3 = Fma(wa, Vector256.Load(x3 + k), a3);
            b0 = Fma(wb, Vector256.Load(x + k + 8), b0);
            b1 = Fma(wb, Vector256.Load(x1 + k + 8), b1);
            b2 = Fma(wb, Vector256.Load(x2 + k + 8), b2);
            b3 = Fma(wb, Vector256.Load(x3 + k + 8), b3);
        }
        y[0] = Gemv.FinishOne<TLoad>(x, w, k, cols, a0, b0);
        y[outStride] = Gemv.FinishOne<TLoad>(x1, w, k, cols, a1, b1);
        y[2 * outStride] = Gemv.FinishOne<TLoad>(x2, w, k, cols, a2, b2);
        y[3 * outStride] = Gemv.FinishOne<TLoad>(x3, w, k, cols, a3, b3);
    }

    /// <summary>This thread's inputs with each 16 columns' even and then odd columns; grows to the largest call, kept for the next.</summary>
    [ThreadStatic] private static float[]? t_evenOdd;

    private static void RunPairs(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        int cols = w.Cols, rows = w.Rows, block = BlockRows(w);
        int tiled = n / TileInputs * TileInputs;
        if (t_evenOdd is null || t_evenOdd.Length < (long)tiled * cols)
        {
            t_evenOdd = GC.AllocateUninitializedArray<float>(tiled * cols, pinned: true);
        }
        // Not ref t_evenOdd[0]: a weight of no columns leaves the array empty, and the kernel then only writes zeros.
        float* arranged = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(t_evenOdd));
        for (nint i = 0; i < tiled; i++)
        {
            Bf16PairGemv.ArrangeEvenOdd(x + (i * cols), arranged + (i * cols), cols);
        }
        for (int j0 = rowStart; j0 < rowEnd; j0 += block)
        {
            int j1 = Math.Min(rowEnd, j0 + block);
            for (int i = 0; i < tiled; i += TileInputs)
            {
                for (int j = j0; j < j1; j++)
                {
                    PairTile(x + ((nint)i * cols), arranged + ((nint)i * cols), cols, w.Row(j), y + ((nint)i * rows) + j, rows);
                }
            }
            for (int i = tiled; i < n; i++)
            {
                Gemv.Run(x + ((nint)i * cols), w, j0, j1, y + ((nint)i * rows));
            }
        }
    }

    /// <summary><see cref="Tile{TLoad}"/> for BF16 pairs: <paramref name="arranged"/> holds the inputs' columns as <see cref="Bf16PairGemv.ArrangeEvenOdd"/> left them.</summary>
    private static void PairTile(float* x, float* arranged, int cols, byte* w, float* y, int outStride)
    {
        float* s1 = arranged + cols, s2 = s1 + cols, s3 = s2 + cols;
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default;
        Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default;
        Vector256<uint> high = Bf16PairGemv.HighHalves;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            Vector256<uint> p = Bf16PairGemv.Pairs(w, k);
            Vector256<float> we = (p << 16).AsSingle(), wo = (p & high).AsSingle();
            e0 = Fma(we, Vector256.Load(arranged + k), e0);
            e1 = Fma(we, Vector256.Load(s1 + k), e1);
            e2 = Fma(we, Vector256.Load(s2 + k), e2);
            e3 = Fma(we, Vector256.Load(s3 + k), e3);
            o0 = Fma(wo, Vector256.Load(arranged + k + 8), o0);
            o1 = Fma(wo, Vector256.Load(s1 + k + 8), o1);
            o2 = Fma(wo, Vector256.Load(s2 + k + 8), o2);
            o3 = Fma(wo, Vector256.Load(s3 + k + 8), o3);
        }
        y[0] = Gemv.FinishOne<Bf16Load>(x, w, k, cols, e0, o0);
        y[outStride] = Gemv.FinishOne<Bf16Load>(x + cols, w, k, cols, e1, o1);
        y[2 * outStride] = Gemv.FinishOne<Bf16Load>(x + (2 * cols), w, k, cols, e2, o2);
        y[3 * outStride] = Gemv.FinishOne<Bf16Load>(x + (3 * cols), w, k, cols, e3, o3);
    }
}
