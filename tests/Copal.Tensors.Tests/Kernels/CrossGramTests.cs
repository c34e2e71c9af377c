using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

public class CrossGramTests
{
    [Fact]
    public void Cross_gram_accumulates_atb_for_every_width()
    {
        foreach (int cols in Rand.Lengths().Where(c => c <= 257))
        {
            const int rows = 9;
            float[] a = Rand.Floats(rows * cols, cols), b = Rand.Floats(rows * cols, cols + 1);
            float[] cross = Rand.Floats(cols * cols, 1); // a running sum, not symmetric
            float[] expected = Reference.Cross(a, b, rows, cols, cross);
            CrossGram.Accumulate(a, b, rows, cols, cross, threads: 1);
            KernelTolerance.AssertSums(cross, expected, rows, $"cross cols={cols}");
        }
    }

    [Theory]
    [InlineData(2, 300)]
    [InlineData(0, 600)]
    public void Cross_gram_multithreaded_matches_reference_over_deep_inputs(int threads, int rows)
    {
        const int cols = 97;
        float[] a = Rand.Floats(rows * cols, rows), b = Rand.Floats(rows * cols, rows + 7);
        var cross = new float[cols * cols];
        float[] expected = Reference.Cross(a, b, rows, cols, cross);
        CrossGram.Accumulate(a, b, rows, cols, cross, threads);
        KernelTolerance.AssertSums(cross, expected, rows, $"cross threads={threads} rows={rows}");
    }

    [Fact]
    public void Cross_gram_of_an_input_with_itself_is_its_gram()
    {
        const int rows = 40, cols = 45;
        float[] x = Rand.Floats(rows * cols, 3);
        var cross = new float[cols * cols];
        var gram = new float[cols * cols];
        CrossGram.Accumulate(x, x, rows, cols, cross, threads: 1);
        Gram.Accumulate(x, rows, cols, gram, threads: 1);
        Assert.Equal(gram, cross);
    }
}
