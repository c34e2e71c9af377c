using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Copal.Benchmarks.Sparse;

/// <summary>
/// A good dense GEMV to measure the sparse kernels against: four weight rows per pass, two accumulators each, FMA.
/// BF16 is widened with a shift and a mask (no shuffle) against x pre-split into even and odd columns.
/// </summary>
internal static unsafe class DenseGemvBaseline
{
    /// <summary>x split per 16 columns into [x0, x2, …, x14, x1, x3, …, x15], the order the BF16 widening yields.</summary>
    public static void SplitEvenOdd(ReadOnlySpan<float> x, Span<float> split)
    {
        for (int c = 0; c < x.Length; c += 16)
        {
            for (int j = 0; j < 8; j++)
            {
                split[c + j] = x[c + 2 * j];
                split[c + 8 + j] = x[c + 2 * j + 1];
            }
        }
    }

    /// <summary>y[r] = W[r, :] · x for r in [r0, r1); cols a multiple of 16, rows a multiple of 4.</summary>
    public static void Bf16(ushort* w, int cols, float* xSplit, float* y, int r0, int r1)
    {
        var high = Vector256.Create(unchecked((int)0xFFFF0000)).AsSingle();
        for (int r = r0; r < r1; r += 4)
        {
            ushort* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int c = 0; c < cols; c += 16)
            {
                var xe = Avx.LoadVector256(xSplit + c);
                var xo = Avx.LoadVector256(xSplit + c + 8);
                var v0 = Avx.LoadVector256((float*)(w0 + c));
                var v1 = Avx.LoadVector256((float*)(w1 + c));
                var v2 = Avx.LoadVector256((float*)(w2 + c));
                var v3 = Avx.LoadVector256((float*)(w3 + c));
                a0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v0.AsInt32(), 16).AsSingle(), xe, a0);
                b0 = Fma.MultiplyAdd(Avx.And(v0, high), xo, b0);
                a1 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v1.AsInt32(), 16).AsSingle(), xe, a1);
                b1 = Fma.MultiplyAdd(Avx.And(v1, high), xo, b1);
                a2 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v2.AsInt32(), 16).AsSingle(), xe, a2);
                b2 = Fma.MultiplyAdd(Avx.And(v2, high), xo, b2);
                a3 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v3.AsInt32(), 16).AsSingle(), xe, a3);
                b3 = Fma.MultiplyAdd(Avx.And(v3, high), xo, b3);
            }
            y[r] = Vector256.Sum(a0 + b0);
            y[r + 1] = Vector256.Sum(a1 + b1);
            y[r + 2] = Vector256.Sum(a2 + b2);
            y[r + 3] = Vector256.Sum(a3 + b3);
        }
    }

    /// <summary>y[r] = W[r, :] · x for r in [r0, r1); cols a multiple of 16, rows a multiple of 4.</summary>
    public static void F32(float* w, int cols, float* x, float* y, int r0, int r1)
    {
        for (int r = r0; r < r1; r += 4)
        {
            float* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int c = 0; c < cols; c += 16)
            {
                var xa = Avx.LoadVector256(x + c);
                var xb = Avx.LoadVector256(x + c + 8);
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(w0 + c), xa, a0);
                b0 = Fma.MultiplyAdd(Avx.LoadVector256(w0 + c + 8), xb, b0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(w1 + c), xa, a1);
                b1 = Fma.MultiplyAdd(Avx.LoadVector256(w1 + c + 8), xb, b1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(w2 + c), xa, a2);
                b2 = Fma.MultiplyAdd(Avx.LoadVector256(w2 + c + 8), xb, b2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(w3 + c), xa, a3);
                b3 = Fma.MultiplyAdd(Avx.LoadVector256(w3 + c + 8), xb, b3);
            }
            y[r] = Vector256.Sum(a0 + b0);
            y[r + 1] = Vector256.Sum(a1 + b1);
            y[r + 2] = Vector256.Sum(a2 + b2);
            y[r + 3] = Vector256.Sum(a3 + b3);
        }
    }
}
