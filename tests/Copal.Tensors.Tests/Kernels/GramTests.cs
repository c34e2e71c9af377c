using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

public class GramTests
{
    [Fact]
    public void Gram_accumulates_xtx_for_every_width()
    {
        foreach (int cols in Rand.Lengths().Where(c => c <= 257 || c == 1023))
        {
            int rows = cols == 1023 ? 3 : 9;
            float[] x = Rand.Floats(rows * cols, cols);
            float[] gram = Rand.Floats(cols * cols, 1);
            for (int i = 0; i < cols; i++)
            {
                for (int j = 0; j < i; j++)
                {
                    gram[i * cols + j] = gram[j * cols + i]; // a symmetric running sum, as callers hold
                }
            }
            float[] expected = Reference.Gram(x, rows, cols, gram);
            int tiles = Gram.TileRows(cols), mid = tiles / 3;
            Gram.Accumulate(x, rows, cols, gram, 0, mid);
            Gram.Accumulate(x, rows, cols, gram, mid, tiles);
            KernelTolerance.AssertSums(gram, expected, rows, $"gram cols={cols}");
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 300)]
    [InlineData(0, 600)]
    public void Gram_multithreaded_matches_reference_over_deep_inputs(int threads, int rows)
    {
        const int cols = 97;
        float[] x = Rand.Floats(rows * cols, rows);
        var gram = new float[cols * cols];
        float[] expected = Reference.Gram(x, rows, cols, gram);
        Gram.Accumulate(x, rows, cols, gram, threads);
        KernelTolerance.AssertSums(gram, expected, rows, $"gram threads={threads} rows={rows}");
    }
}
