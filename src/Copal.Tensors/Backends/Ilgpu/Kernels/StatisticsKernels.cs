using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>Calibration statistics for pruning; both accumulate into existing sums.</summary>
internal static class StatisticsKernels
{
    /// <summary>
    /// gram[i, j] += Σ_r x[r, i]·x[r, j], one thread per element of gram. Neighbouring threads take neighbouring j,
    /// so each row of x is read coalesced and shared through the cache by the threads of one i.
    /// </summary>
    public static void Gram(Index2D ij, ArrayView<float> x, ArrayView<float> gram, int rows, int cols)
    {
        int j = ij.X, i = ij.Y;
        float acc = 0f;
        for (int r = 0; r < rows; r++)
        {
            long rowBase = (long)r * cols;
            acc += x[rowBase + i] * x[rowBase + j];
        }
        gram[((long)i * cols) + j] += acc;
    }

    /// <summary>sums[c] += Σ_r x[r, c]²; one thread per column.</summary>
    public static void ColumnSquares(Index1D c, ArrayView<float> x, ArrayView<float> sums, int rows, int cols)
    {
        float acc = 0f;
        for (int r = 0; r < rows; r++)
        {
            float v = x[((long)r * cols) + c];
            acc += v * v;
        }
        sums[c] += acc;
    }
}
