namespace Copal.Tensors.Kernels;

/// <summary>Y[n, out] = X[n, in] · Wᵀ over all threads: <see cref="Gemv"/> for one row, <see cref="Gemm"/> otherwise.</summary>
public static unsafe class MatMul
{
    /// <summary>Output features per thread below which splitting costs more than it saves.</summary>
    private const int MinRowsPerThread = 64;

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

    internal static void Run(float* x, int n, WeightMatrix w, float* y, int threads)
    {
        if (n == 0)
        {
            return;
        }
        nint px = (nint)x, py = (nint)y;
        if (n == 1)
        {
            RowPartition.For(w.Rows, threads, 4, MinRowsPerThread, (s, e) => Gemv.Run((float*)px, w, s, e, (float*)py));
        }
        else
        {
            RowPartition.For(w.Rows, threads, GemmMicroKernel.NR, MinRowsPerThread, (s, e) => Gemm.Run((float*)px, n, w, s, e, (float*)py));
        }
    }
}
