using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>Batched decode of n sequences must equal decoding each alone, whatever the weight's layout.</summary>
internal static class BatchedRows
{
    /// <summary>
    /// Runs the n rows of <paramref name="x"/> together on <paramref name="batchThreads"/> threads, then each alone on
    /// <paramref name="singleThreads"/>, and asserts every row's outputs are the same to the bit.
    /// </summary>
    public static void AssertEachEqualsItsSingleRow(float[] x, int n, in WeightMatrix matrix, int batchThreads, int singleThreads)
    {
        int rows = matrix.Rows, cols = matrix.Cols;
        var y = new float[n * rows];
        MatMul.Compute(x, n, matrix, y, batchThreads);
        for (int i = 0; i < n; i++)
        {
            var single = new float[rows];
            MatMul.Compute(x.AsSpan(i * cols, cols), 1, matrix, single, singleThreads);
            Assert.Equal(single, y.AsSpan(i * rows, rows).ToArray());
        }
    }
}
