namespace Copal.Tensors.Kernels;

/// <summary>Y[n, out] = X[n, in] · Wᵀ over all threads: <see cref="Gemv"/> for one row, <see cref="Gemm"/> otherwise.</summary>
public static unsafe class MatMul
{
    /// <summary>
    /// Multiply-adds per thread below which a call stays on the calling thread: about 10–20 µs of work, the cost
    /// of handing a range to another core. Tiny models (64-wide stories260K) then never pay for a wake-up.
    /// </summary>
    internal const long MinMacsPerThread = 1 << 17;

    /// <summary>Computes y = x · Wᵀ, spreading output features over <paramref name="threads"/> (0 = all cores).</summary>
    public static void Compute(ReadOnlySpan<float> x, int n, in WeightMatrix weight, Span<float> y, int threads = 0)
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
        fixed (float* px = x)
        fixed (float* py = y)
        {
            Run(px, n, weight, py, threads);
        }
    }

    internal static void Run(float* x, int n, in WeightMatrix w, float* y, int threads)
    {
        if (n == 0 || w.Rows == 0)
        {
            return;
        }
        long macsPerRow = Math.Max(1L, (long)n * w.Cols);
        int minRows = (int)Math.Clamp(MinMacsPerThread / macsPerRow, 1, int.MaxValue);
        if (n == 1)
        {
            RowPartition.For(w.Rows, threads, 4, Math.Max(4, minRows), new GemvBody(x, w, y));
        }
        else
        {
            RowPartition.For(w.Rows, threads, GemmMicroKernel.NR, Math.Max(GemmMicroKernel.NR, minRows), new GemmBody(x, n, w, y));
        }
    }

    private readonly struct GemvBody(float* x, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => Gemv.Run(x, w, start, end, y);
    }

    private readonly struct GemmBody(float* x, int n, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => Gemm.Run(x, n, w, start, end, y);
    }
}
