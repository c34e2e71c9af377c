using System.Numerics.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Causal grouped-query attention over a KV cache. Work items are (row, head) pairs, item = row·heads + head, so
/// threads split rows × heads evenly even for one decode row.
/// </summary>
internal static class Attention
{
    /// <summary>Scratch floats one worker needs: one score per attended position (at most a window's).</summary>
    public static int ScratchLength(in AttentionShape shape) =>
        shape.Window > 0 ? Math.Min(shape.StartPos + shape.Rows, shape.Window) : shape.StartPos + shape.Rows;

    /// <summary>Throws unless the spans hold the tensors <paramref name="shape"/> describes.</summary>
    public static void Validate(int qLength, int kLength, int vLength, int outputLength, in AttentionShape shape)
    {
        if (shape.Rows < 0 || shape.StartPos < 0 || shape.Heads <= 0 || shape.KvHeads <= 0 || shape.HeadDim <= 0)
        {
            throw new ArgumentException($"attention shape {shape} has a non-positive dimension");
        }
        if (shape.Window < 0)
        {
            throw new ArgumentException($"attention shape {shape} has a negative window (0 attends every earlier position)");
        }
        if (shape.Heads % shape.KvHeads != 0)
        {
            throw new ArgumentException($"attention heads {shape.Heads} is not a multiple of kv heads {shape.KvHeads}");
        }
        long qSize = (long)shape.Rows * shape.Heads * shape.HeadDim;
        long kvSize = (long)(shape.StartPos + shape.Rows) * shape.KvHeads * shape.HeadDim;
        if (qLength < qSize || outputLength < qSize)
        {
            throw new ArgumentException($"attention q has {qLength} and output {outputLength} elements, expected [{shape.Rows}, {shape.Heads}·{shape.HeadDim}] = {qSize}");
        }
        if (kLength < kvSize || vLength < kvSize)
        {
            throw new ArgumentException($"attention caches have {kLength} (k) and {vLength} (v) elements, positions 0..{shape.StartPos + shape.Rows - 1} need {kvSize}");
        }
    }

    /// <summary>
    /// output[r, h, :] = Σ_t softmax_t(scale · q[r, h]·k[t, g]) · v[t, g] for items [itemStart, itemEnd), t ≤ startPos + r
    /// (and t ≥ <see cref="AttentionShape.FirstKey"/>(r) under a sliding window), g = h / (heads / kvHeads). <paramref name="scores"/> holds at least <see cref="ScratchLength"/> floats.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, in AttentionShape shape,
        int itemStart, int itemEnd, Span<float> scores, Span<float> output)
    {
        Validate(q.Length, kCache.Length, vCache.Length, output.Length, shape);
        if (scores.Length < ScratchLength(shape))
        {
            throw new ArgumentException($"scores scratch has {scores.Length} floats, needs {ScratchLength(shape)}", nameof(scores));
        }
        // Spans longer than the shape (a batch's buffers) would let an item past rows × heads read and write there.
        int items = shape.Rows * shape.Heads;
        if ((uint)itemStart > (uint)itemEnd || itemEnd > items)
        {
            throw new ArgumentOutOfRangeException(nameof(itemEnd), $"items [{itemStart}, {itemEnd}) outside [0, {items})");
        }
        int d = shape.HeadDim;
        int qWidth = shape.Heads * d;
        int kvWidth = shape.KvHeads * d;
        int group = shape.Heads / shape.KvHeads;
        for (int item = itemStart; item < itemEnd; item++)
        {
            int r = item / shape.Heads, h = item % shape.Heads;
            int kvOffset = (h / group) * d;
            // The row's keys first .. startPos + r: the caches from its first key on, so t counts from there.
            int first = shape.FirstKey(r);
            int length = shape.StartPos + r + 1 - first;
            ReadOnlySpan<float> keys = kCache[(first * kvWidth)..], values = vCache[(first * kvWidth)..];
            ReadOnlySpan<float> qh = q.Slice(r * qWidth + h * d, d);
            Span<float> s = scores[..length];
            Span<float> o = output.Slice(r * qWidth + h * d, d);
            if (d < SmallHeadDim)
            {
                SmallHead(qh, keys, values, kvWidth, kvOffset, shape.Scale, s, o);
                continue;
            }
            for (int t = 0; t < length; t++)
            {
                // HF eager attention: (q·k) then · scale.
                s[t] = TensorPrimitives.Dot(qh, keys.Slice(t * kvWidth + kvOffset, d)) * shape.Scale;
            }
            Softmax.Compute(s, s);
            o.Clear();
            for (int t = 0; t < length; t++)
            {
                TensorPrimitives.MultiplyAdd(values.Slice(t * kvWidth + kvOffset, d), s[t], o, o);
            }
        }
    }

    // Below this head size a call into TensorPrimitives per key costs more than the arithmetic (stories260K has 8).
    private const int SmallHeadDim = 16;

    /// <summary>One query head over <c>s.Length</c> keys with plain loops: same math, no per-key call overhead.</summary>
    private static void SmallHead(ReadOnlySpan<float> qh, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        int kvWidth, int kvOffset, float scale, Span<float> s, Span<float> o)
    {
        int d = qh.Length;
        Span<float> acc = stackalloc float[SmallHeadDim];
        for (int t = 0; t < s.Length; t++)
        {
            ReadOnlySpan<float> k = kCache.Slice(t * kvWidth + kvOffset, d);
            float dot = 0;
            for (int i = 0; i < d; i++)
            {
                dot += qh[i] * k[i];
            }
            s[t] = dot * scale;
        }
        Softmax.Compute(s, s);
        acc = acc[..d];
        acc.Clear();
        for (int t = 0; t < s.Length; t++)
        {
            ReadOnlySpan<float> v = vCache.Slice(t * kvWidth + kvOffset, d);
            float w = s[t];
            for (int i = 0; i < d; i++)
            {
                acc[i] += v[i] * w;
            }
        }
        acc.CopyTo(o);
    }
}
