using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// y[i, j] = Σ_k x[i, k]·W[j, k] for a few input rows (batched decode: one row per sequence), in register tiles
/// of two weight rows × four input rows. Each widened weight vector then feeds four FMAs and each input vector two;
/// the per-row GEMV widened every weight vector once per input row, which made eight streams compute-bound on the
/// widening. Every y[i, j] is summed exactly as <see cref="Gemv"/>'s Vector512 path sums it (two accumulators over
/// alternating 16-column chunks, the 16-wide tail into the first, their vector sum, then the scalar tail), so a
/// sequence's logits do not depend on how many others share the step.
/// </summary>
internal static unsafe class BatchedGemv
{
    /// <summary>Input rows one tile serves.</summary>
    public const int TileInputs = 4;

    /// <summary>Whether <see cref="Run"/> reproduces <see cref="Gemv"/> for this weight: only its Vector512 path is tiled.</summary>
    public static bool Serves(in WeightMatrix w, int n) => KernelPaths.UseVector512 && w.Cols >= 32 && n >= TileInputs;

    /// <summary>
    /// y[i, j] for i &lt; n, j in [rowStart, rowEnd): x is [n, w.Cols], y is [n, w.Rows]. Inputs past the last
    /// whole tile and a last odd weight row take the per-row GEMV.
    /// </summary>
    public static void Run(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
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
        int cols = w.Cols;
        nint ldy = w.Rows;
        int tiled = n / TileInputs * TileInputs;
        int pairEnd = rowStart + (rowEnd - rowStart) / 2 * 2;
        for (int i0 = 0; i0 < tiled; i0 += TileInputs)
        {
            // The four inputs (4 × cols floats) stay in L1 while the weight rows stream past them.
            float* xi = x + (nint)i0 * cols;
            float* yi = y + i0 * ldy;
            for (int j = rowStart; j < pairEnd; j += 2)
            {
                Tile<TLoad>(xi, w.Row(j), w.Row(j + 1), cols, yi + j, ldy);
            }
        }
        for (int i = 0; i < n; i++)
        {
            float* xi = x + (nint)i * cols;
            float* yi = y + i * ldy;
            if (i >= tiled)
            {
                Gemv.Run(xi, w, rowStart, rowEnd, yi);
            }
            else if (pairEnd < rowEnd)
            {
                Gemv.Run(xi, w, pairEnd, rowEnd, yi);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    /// <summary>Rows w0, w1 against inputs x[0..4) (stride cols): y[i·ldy] and y[i·ldy + 1].</summary>
    private static void Tile<TLoad>(float* x, byte* w0, byte* w1, int cols, float* y, nint ldy)
        where TLoad : IWeightLoad
    {
        float* x0 = x, x1 = x + cols, x2 = x + 2 * (nint)cols, x3 = x + 3 * (nint)cols;
        // a: chunks at k ≡ 0 (mod 32) and the 16-wide tail; b: chunks at k ≡ 16. Row r, input i: arI / brI.
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> b00 = default, b01 = default, b02 = default, b03 = default;
        Vector512<float> b10 = default, b11 = default, b12 = default, b13 = default;
        nint k = 0;
        for (; k + 32 <= cols; k += 32)
        {
            Vector512<float> u = TLoad.Load16(w0, k), v = TLoad.Load16(w1, k), xv;
            xv = Vector512.Load(x0 + k); a00 = Fma(u, xv, a00); a10 = Fma(v, xv, a10);
            xv = Vector512.Load(x1 + k); a01 = Fma(u, xv, a01); a11 = Fma(v, xv, a11);
            xv = Vector512.Load(x2 + k); a02 = Fma(u, xv, a02); a12 = Fma(v, xv, a12);
            xv = Vector512.Load(x3 + k); a03 = Fma(u, xv, a03); a13 = Fma(v, xv, a13);
            u = TLoad.Load16(w0, k + 16);
            v = TLoad.Load16(w1, k + 16);
            xv = Vector512.Load(x0 + k + 16); b00 = Fma(u, xv, b00); b10 = Fma(v, xv, b10);
            xv = Vector512.Load(x1 + k + 16); b01 = Fma(u, xv, b01); b11 = Fma(v, xv, b11);
            xv = Vector512.Load(x2 + k + 16); b02 = Fma(u, xv, b02); b12 = Fma(v, xv, b12);
            xv = Vector512.Load(x3 + k + 16); b03 = Fma(u, xv, b03); b13 = Fma(v, xv, b13);
        }
        if (k + 16 <= cols)
        {
            Vector512<float> u = TLoad.Load16(w0, k), v = TLoad.Load16(w1, k), xv;
            xv = Vector512.Load(x0 + k); a00 = Fma(u, xv, a00); a10 = Fma(v, xv, a10);
            xv = Vector512.Load(x1 + k); a01 = Fma(u, xv, a01); a11 = Fma(v, xv, a11);
            xv = Vector512.Load(x2 + k); a02 = Fma(u, xv, a02); a12 = Fma(v, xv, a12);
            xv = Vector512.Load(x3 + k); a03 = Fma(u, xv, a03); a13 = Fma(v, xv, a13);
            k += 16;
        }
        float s00 = Vector512.Sum(a00 + b00), s01 = Vector512.Sum(a01 + b01), s02 = Vector512.Sum(a02 + b02), s03 = Vector512.Sum(a03 + b03);
        float s10 = Vector512.Sum(a10 + b10), s11 = Vector512.Sum(a11 + b11), s12 = Vector512.Sum(a12 + b12), s13 = Vector512.Sum(a13 + b13);
        for (; k < cols; k++)
        {
            float u = TLoad.Load1(w0, k), v = TLoad.Load1(w1, k);
            s00 += u * x0[k]; s10 += v * x0[k];
            s01 += u * x1[k]; s11 += v * x1[k];
            s02 += u * x2[k]; s12 += v * x2[k];
            s03 += u * x3[k]; s13 += v * x3[k];
        }
        y[0] = s00; y[1] = s10;
        y[ldy] = s01; y[ldy + 1] = s11;
        y[2 * ldy] = s02; y[2 * ldy + 1] = s12;
        y[3 * ldy] = s03; y[3 * ldy + 1] = s13;
    }
}
