using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Kernels;

public class ElementwiseTests
{
    [Fact]
    public void RmsNorm_matches_reference_for_every_length()
    {
        foreach (int n in Rand.Lengths())
        {
            float[] x = Rand.Floats(n, n, 3f), w = Rand.Floats(n, n + 1);
            var y = new float[n];
            RmsNorm.Compute(x, w, 1e-5f, y);
            Tolerances.AssertClose(y, Reference.RmsNorm(x, w, 1e-5f), what: $"rmsnorm n={n}");
            RmsNorm.Compute(x, w, 1e-5f, x); // in place
            Tolerances.AssertClose(x, y, 0, 0, what: $"rmsnorm in place n={n}");
        }
    }

    [Fact]
    public void RmsNorm_adds_epsilon_to_the_mean_square_of_a_small_row()
    {
        // Rows of order 1 (above) have a mean square near 3, where eps 1e-5 moves the result by 2e-6 relative, inside the
        // kernel bound: a kernel that dropped eps passed them. Here the mean square (about 3e-7) is below eps, so eps sets
        // the scale, as for a hidden state that is nearly zero.
        foreach (int n in Rand.Lengths())
        {
            float[] x = Rand.Floats(n, n + 2, 1e-3f), w = Rand.Floats(n, n + 3);
            var y = new float[n];
            RmsNorm.Compute(x, w, 1e-5f, y);
            Tolerances.AssertClose(y, Reference.RmsNorm(x, w, 1e-5f), what: $"rmsnorm of a small row n={n}");
        }
    }

    [Fact]
    public void Softmax_matches_reference_and_survives_large_inputs()
    {
        foreach (int n in Rand.Lengths())
        {
            float[] x = Rand.Floats(n, n, 20f);
            x[0] += 1000f; // exp(1000) overflows unless the max is subtracted first
            var y = new float[n];
            Softmax.Compute(x, y);
            Tolerances.AssertClose(y, Reference.Softmax(x), what: $"softmax n={n}");
        }
    }

    [Fact]
    public void SiluMul_matches_reference_and_allows_aliasing()
    {
        foreach (int n in Rand.Lengths())
        {
            float[] g = Rand.Floats(n, n, 8f), u = Rand.Floats(n, n + 1, 2f);
            float[] expected = Reference.SiluMul(g, u);
            var y = new float[n];
            SiluMul.Compute(g, u, y);
            Tolerances.AssertClose(y, expected, what: $"silu n={n}");
            SiluMul.Compute(g, u, g);
            Tolerances.AssertClose(g, expected, what: $"silu aliased n={n}");
        }
    }

    /// <summary>
    /// An element's result has the same bits wherever its range ends: the last few elements once took MathF.Exp
    /// and the rest Vector256.Exp, so a batched step's rows, or the threads' split of a range, changed the last bits of
    /// a model's activations where the MLP width is not a multiple of 8 (stories260K's 172).
    /// </summary>
    [Theory]
    [InlineData("silu")]
    [InlineData("gelu")]
    public void A_gate_elements_bits_do_not_depend_on_where_its_range_ends(string kind)
    {
        const int N = 173;
        float[] g = Rand.Floats(N, 11, 8f), u = Rand.Floats(N, 12, 2f);
        void Gate(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
        {
            if (kind == "silu")
            {
                SiluMul.Compute(a, b, y);
            }
            else
            {
                GeluTanhMul.Compute(a, b, y);
            }
        }
        var whole = new float[N];
        Gate(g, u, whole);
        for (int start = 0; start < 9; start++)
        {
            foreach (int length in new[] { 1, 3, 7, 8, 9, 20, N - start })
            {
                var part = new float[length];
                Gate(g.AsSpan(start, length), u.AsSpan(start, length), part);
                for (int i = 0; i < length; i++)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(part[i]) == BitConverter.SingleToInt32Bits(whole[start + i]),
                        $"{kind}: element {start + i} is {part[i]:R} in a range [{start}, {start + length}) and {whole[start + i]:R} in [0, {N})");
                }
            }
        }
    }

    [Fact]
    public void GeluTanhMul_matches_reference_and_allows_aliasing()
    {
        foreach (int n in Rand.Lengths())
        {
            // Gates to ±12: both saturated tails (the exponential overflows to +∞ for the negative one) and the bend.
            float[] g = Rand.Floats(n, n, 12f), u = Rand.Floats(n, n + 1, 2f);
            float[] expected = Reference.GeluTanhMul(g, u);
            var y = new float[n];
            GeluTanhMul.Compute(g, u, y);
            Tolerances.AssertClose(y, expected, what: $"gelu n={n}");
            GeluTanhMul.Compute(g, u, g);
            Tolerances.AssertClose(g, expected, what: $"gelu aliased n={n}");
        }
    }

    [Fact]
    public void GeluTanhMul_saturates_without_nan()
    {
        float[] g = [-1000f, -90f, -12f, 0f, 12f, 90f, 1000f, float.MaxValue], u = [1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f];
        var y = new float[g.Length];
        GeluTanhMul.Compute(g, u, y);
        Assert.All(y, v => Assert.False(float.IsNaN(v)));
        Assert.Equal(0f, y[0]);
        Assert.Equal(1000f, y[6]);
        Assert.Equal(0f, y[3]);
    }

    [Fact]
    public void Add_and_bias_match_reference()
    {
        foreach (int n in Rand.Lengths())
        {
            float[] a = Rand.Floats(n, n), b = Rand.Floats(n, n + 1);
            float[] expected = a.Select((v, i) => v + b[i]).ToArray();
            Add.Compute(a, b, a);
            Tolerances.AssertClose(a, expected, 0, 0, what: $"add n={n}");
        }
        float[] y = Rand.Floats(3 * 5, 1), bias = Rand.Floats(5, 2);
        float[] want = y.Select((v, i) => v + bias[i % 5]).ToArray();
        Add.Bias(y, bias, 0, 3);
        Tolerances.AssertClose(y, want, 0, 0, what: "bias");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Embedding_returns_the_stored_rows_exactly(DType dtype)
    {
        foreach (int dim in Rand.Lengths())
        {
            using var table = new StoredMatrix(dtype, 5, dim, seed: dim);
            int[] tokens = [4, 0, 4, 2];
            var y = new float[tokens.Length * dim];
            Embedding.Lookup(table.Matrix, tokens, y);
            float[] expected = tokens.SelectMany(t => table.Values.Skip(t * dim).Take(dim)).ToArray();
            Tolerances.AssertClose(y, expected, 0, 0, what: $"embedding {dtype} dim={dim}");
        }
    }

    [Fact]
    public void Embedding_names_the_token_out_of_range()
    {
        using var table = new StoredMatrix(DType.BF16, 5, 8, seed: 1);
        var y = new float[16];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Lookup(table.Matrix, [1, 5], y));
        Assert.Contains("token 5 at index 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ColumnSquares_accumulates_over_column_ranges()
    {
        foreach (int cols in Rand.Lengths())
        {
            const int rows = 5;
            float[] x = Rand.Floats(rows * cols, cols), sums = Rand.Floats(cols, cols + 1, 0.5f);
            float[] expected = Reference.ColumnSquares(x, rows, cols, sums);
            int mid = cols / 2;
            ColumnSquares.Accumulate(x, rows, sums, 0, mid);
            ColumnSquares.Accumulate(x, rows, sums, mid, cols);
            KernelTolerance.AssertSums(sums, expected, rows, $"column squares cols={cols}");
        }
    }
}
