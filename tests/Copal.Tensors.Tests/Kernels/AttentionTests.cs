using Copal.Tensors.Backends;
using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Kernels;

public class AttentionTests
{
    [Theory]
    [InlineData(1, 0, 4, 4, 8)]    // first decode step, multi-head
    [InlineData(1, 37, 8, 2, 16)]  // decode with a cache, grouped-query
    [InlineData(5, 0, 6, 3, 33)]   // prefill, odd head dim
    [InlineData(7, 11, 4, 1, 64)]  // chunked prefill after a cache, multi-query
    public void Attention_matches_reference(int rows, int startPos, int heads, int kvHeads, int headDim)
    {
        int positions = startPos + rows;
        float[] q = Rand.Floats(rows * heads * headDim, 1, 2f);
        float[] k = Rand.Floats(positions * kvHeads * headDim, 2, 2f);
        float[] v = Rand.Floats(positions * kvHeads * headDim, 3);
        float scale = 1f / MathF.Sqrt(headDim);
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, scale);
        float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, scale);
        var output = new float[q.Length];
        var scores = new float[Attention.ScratchLength(shape)];
        int items = rows * heads, mid = items / 2;
        Attention.Compute(q, k, v, shape, 0, mid, scores, output);
        Attention.Compute(q, k, v, shape, mid, items, scores, output);
        Tolerances.AssertClose(output, expected, what: "attention");
    }

    [Theory]
    [InlineData(16, 0, 4, 4, 16)]   // the smallest blocked prompt, multi-head
    [InlineData(61, 0, 8, 2, 64)]   // two row blocks, the second partial, grouped-query
    [InlineData(50, 37, 6, 3, 33)]  // chunked prefill after a cache, odd head dim
    [InlineData(100, 5, 4, 1, 64)]  // multi-query, three row blocks
    [InlineData(70, 0, 8, 4, 8)]    // small heads (stories260K's shape): S·V as a direct sum, vectorized
    [InlineData(33, 9, 4, 2, 6)]    // small odd heads: the scalar sum
    public void Blocked_attention_matches_reference(int rows, int startPos, int heads, int kvHeads, int headDim)
    {
        int positions = startPos + rows;
        float[] q = Rand.Floats(rows * heads * headDim, 1, 2f);
        float[] k = Rand.Floats(positions * kvHeads * headDim, 2, 2f);
        float[] v = Rand.Floats(positions * kvHeads * headDim, 3);
        float scale = 1f / MathF.Sqrt(headDim);
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, scale);
        Assert.True(BlockedAttention.Suits(shape));
        float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, scale);
        var output = new float[q.Length];
        var scratch = new float[BlockedAttention.ScratchLength(shape)];
        int items = BlockedAttention.Items(shape), mid = items / 2;
        BlockedAttention.Compute(q, k, v, shape, 0, mid, scratch, output);
        BlockedAttention.Compute(q, k, v, shape, mid, items, scratch, output);
        Tolerances.AssertClose(output, expected, what: "blocked attention");
    }

    [Theory]
    [InlineData(1, 40, 8, 2, 16, 9)]     // decode: the row sees its window, not the cache before it
    [InlineData(7, 11, 4, 1, 64, 5)]     // chunked prefill: each row's window starts one key later
    [InlineData(5, 0, 6, 3, 8, 3)]       // small heads, a window smaller than the prompt
    [InlineData(3, 2, 4, 2, 16, 100)]    // a window wider than every position: full causal
    public void Attention_under_a_sliding_window_matches_reference(int rows, int startPos, int heads, int kvHeads, int headDim, int window)
    {
        var (q, k, v, shape) = Inputs(rows, startPos, heads, kvHeads, headDim, window);
        float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, shape.Scale, window);
        var output = new float[q.Length];
        Attention.Compute(q, k, v, shape, 0, rows * heads, new float[Attention.ScratchLength(shape)], output);
        Tolerances.AssertClose(output, expected, what: $"attention under a window of {window}");
    }

    [Theory]
    [InlineData(61, 0, 8, 2, 64, 20)]    // rows of one block start their windows at different keys
    [InlineData(50, 37, 6, 3, 33, 7)]    // after a cache, a window narrower than a block
    [InlineData(100, 5, 4, 1, 64, 64)]   // three row blocks
    [InlineData(70, 0, 8, 4, 8, 10)]     // small heads, vectorized: windows starting inside a score step
    [InlineData(150, 90, 4, 2, 8, 100)]  // small heads: windows starting past the first score step
    [InlineData(33, 9, 4, 2, 6, 4)]      // small odd heads
    public void Blocked_attention_under_a_sliding_window_matches_reference(int rows, int startPos, int heads, int kvHeads, int headDim, int window)
    {
        var (q, k, v, shape) = Inputs(rows, startPos, heads, kvHeads, headDim, window);
        float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, shape.Scale, window);
        var output = new float[q.Length];
        BlockedAttention.Compute(q, k, v, shape, 0, BlockedAttention.Items(shape), new float[BlockedAttention.ScratchLength(shape)], output);
        Tolerances.AssertClose(output, expected, what: $"blocked attention under a window of {window}");
    }

    /// <summary>
    /// Scratch and output hold whatever was there before (a pool's buffers, the last layer's values): both kernels
    /// must write every output element and read no stale scratch. NaN everywhere beforehand shows any that leaks in,
    /// even times a zero weight (the blocked kernel's zero-padded values past the last key, multiplied by the
    /// masked keys' zero numerators; the per-row kernels' sums start from a cleared output).
    /// </summary>
    [Theory]
    [InlineData(70, 0, 8, 4, 8)]    // small heads on the vectorized direct sum: padding values past the last key
    [InlineData(33, 9, 4, 2, 6)]    // small odd heads: the scalar sum
    [InlineData(61, 0, 8, 2, 64)]   // wide heads
    public void Attention_ignores_what_its_scratch_and_output_held_before(int rows, int startPos, int heads, int kvHeads, int headDim)
    {
        var (q, k, v, shape) = Inputs(rows, startPos, heads, kvHeads, headDim, window: 0);
        float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, shape.Scale);
        var output = new float[q.Length];
        var scratch = new float[BlockedAttention.ScratchLength(shape)];
        output.AsSpan().Fill(float.NaN);
        scratch.AsSpan().Fill(float.NaN);
        BlockedAttention.Compute(q, k, v, shape, 0, BlockedAttention.Items(shape), scratch, output);
        Tolerances.AssertClose(output, expected, what: $"blocked attention over stale buffers d={headDim}");
        var scores = new float[Attention.ScratchLength(shape)];
        output.AsSpan().Fill(float.NaN);
        scores.AsSpan().Fill(float.NaN);
        Attention.Compute(q, k, v, shape, 0, rows * heads, scores, output);
        Tolerances.AssertClose(output, expected, what: $"attention over stale buffers d={headDim}");
    }

    /// <summary>
    /// Items past the shape's rows × heads are refused, as the blocked kernel refuses its own: with buffers larger than
    /// the shape (a batch's, a context's), the per-row kernel attended them as rows past the shape and wrote their
    /// output there, without a word.
    /// </summary>
    [Fact]
    public void Attention_refuses_items_outside_the_shape()
    {
        var (q, k, v, shape) = Inputs(rows: 2, startPos: 3, heads: 4, kvHeads: 2, headDim: 16, window: 0);
        float[] roomyQ = [.. q, .. q], roomyK = [.. k, .. k], roomyV = [.. v, .. v];
        var output = new float[roomyQ.Length];
        var scores = new float[Attention.ScratchLength(shape) + 8];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Compute(roomyQ, roomyK, roomyV, shape, 4, 9, scores, output));
        Assert.Contains("items [4, 9) outside [0, 8)", e.Message, StringComparison.Ordinal);
        Assert.All(output, o => Assert.Equal(0f, o));
        Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Compute(q, k, v, shape, 5, 4, scores, output));
    }

    private static (float[] Q, float[] K, float[] V, AttentionShape Shape) Inputs(int rows, int startPos, int heads, int kvHeads, int headDim, int window)
    {
        int positions = startPos + rows;
        return (Rand.Floats(rows * heads * headDim, 1, 2f), Rand.Floats(positions * kvHeads * headDim, 2, 2f),
            Rand.Floats(positions * kvHeads * headDim, 3), new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), window));
    }
}
