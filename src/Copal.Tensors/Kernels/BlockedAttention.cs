using System.Runtime.Intrinsics;
using Copal.Tensors.Backends;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Causal grouped-query attention for many query rows at once (prefill, perplexity, calibration) as two GEMMs on the
/// shared register tile: S = Q·Kᵀ, then softmax per row, then O = S·V. <see cref="Attention"/> computes the same
/// thing one (row, head) at a time with a dot product per key; at 512 rows that per-key call cost about as much
/// as a third of the layer's matmuls.
/// </summary>
/// <remarks>
/// A work item is one KV head and a block of <see cref="BlockRows"/> query rows: the query rows of every head that
/// shares the KV head are stacked (head-major) into one X, so the group's K and V are copied once per item. Keys
/// past the block's last row are never computed; keys past a row's own position inside the block are zeroed after
/// the softmax of the visible ones, so each row's result is that of <see cref="Attention"/> up to summation order.
/// </remarks>
public static unsafe class BlockedAttention
{
    /// <summary>Query rows per work item (a multiple of the register tile's rows).</summary>
    public const int BlockRows = 4 * GemmMicroKernel.MR;

    /// <summary>Fewest query rows for which the blocked form pays; decode and short chunks use <see cref="Attention"/>.</summary>
    public const int MinRows = 16;

    /// <summary>
    /// Head dims below this take O = S·V as a direct sum over keys instead of a GEMM: with a narrow output the GEMM
    /// would spend more time packing the scores than multiplying (stories260K has head dim 8).
    /// </summary>
    public const int SmallHeadDim = 16;

    /// <summary>Whether <see cref="Compute"/> should serve <paramref name="shape"/>: enough query rows, any head dim.</summary>
    public static bool Suits(in AttentionShape shape) => shape.Rows >= MinRows;

    /// <summary>Work items: KV heads × row blocks.</summary>
    public static int Items(in AttentionShape shape) => shape.KvHeads * RowBlocks(shape);

    /// <summary>Scratch floats one worker needs for any item of <paramref name="shape"/>.</summary>
    public static long ScratchLength(in AttentionShape shape)
    {
        long group = shape.Heads / shape.KvHeads, d = shape.HeadDim, keys = shape.StartPos + shape.Rows;
        long stacked = group * BlockRows;
        // Q block, K copy, V copy (transposed for the GEMM), scores, output block.
        return stacked * d + keys * d + d * keys + stacked * keys + stacked * d;
    }

    /// <summary>
    /// output rows of items [itemStart, itemEnd) (see <see cref="Items"/>); q, caches and output as in
    /// <see cref="Attention.Compute"/>. <paramref name="scratch"/> holds at least <see cref="ScratchLength"/> floats.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, in AttentionShape shape,
        int itemStart, int itemEnd, Span<float> scratch, Span<float> output)
    {
        Attention.Validate(q.Length, kCache.Length, vCache.Length, output.Length, shape);
        if (scratch.Length < ScratchLength(shape))
        {
            throw new ArgumentException($"attention scratch has {scratch.Length} floats, needs {ScratchLength(shape)}", nameof(scratch));
        }
        if ((uint)itemStart > (uint)itemEnd || itemEnd > Items(shape))
        {
            throw new ArgumentOutOfRangeException(nameof(itemEnd), $"items [{itemStart}, {itemEnd}) outside [0, {Items(shape)})");
        }
        fixed (float* pq = q)
        fixed (float* pk = kCache)
        fixed (float* pv = vCache)
        fixed (float* ps = scratch)
        fixed (float* po = output)
        {
            for (int item = itemStart; item < itemEnd; item++)
            {
                RunItem(pq, pk, pv, shape, item, ps, po);
            }
        }
    }

    private static int RowBlocks(in AttentionShape shape) => (shape.Rows + BlockRows - 1) / BlockRows;

    private static void RunItem(float* q, float* kCache, float* vCache, in AttentionShape shape, int item, float* scratch, float* output)
    {
        int blocks = RowBlocks(shape);
        int g = item / blocks, r0 = item % blocks * BlockRows;
        int rows = Math.Min(BlockRows, shape.Rows - r0);
        int d = shape.HeadDim, group = shape.Heads / shape.KvHeads;
        int qWidth = shape.Heads * d, kvWidth = shape.KvHeads * d;
        int keys = shape.StartPos + r0 + rows; // the block's last row sees this many
        int stacked = group * rows;

        float* qBlock = scratch;
        float* kCopy = qBlock + (nint)group * BlockRows * d;
        float* vCopy = kCopy + (nint)keys * d; // Vᵀ [d, keys] for the GEMM, or V [keys, d] for small heads
        float* scores = vCopy + (nint)d * keys;
        float* oBlock = scores + (nint)group * BlockRows * keys;

        // X rows head-major: row (hh · rows + i) is query row r0 + i of head g·group + hh.
        for (int hh = 0; hh < group; hh++)
        {
            int h = g * group + hh;
            for (int i = 0; i < rows; i++)
            {
                new ReadOnlySpan<float>(q + (nint)(r0 + i) * qWidth + h * d, d).CopyTo(new Span<float>(qBlock + (nint)(hh * rows + i) * d, d));
            }
        }
        bool smallHead = d < SmallHeadDim;
        float* kHead = kCache + g * d, vHead = vCache + g * d;
        for (int t = 0; t < keys; t++)
        {
            new ReadOnlySpan<float>(kHead + (nint)t * kvWidth, d).CopyTo(new Span<float>(kCopy + (nint)t * d, d));
            float* vRow = vHead + (nint)t * kvWidth;
            if (smallHead)
            {
                // Row-major [keys, d] for the direct sum below.
                new ReadOnlySpan<float>(vRow, d).CopyTo(new Span<float>(vCopy + (nint)t * d, d));
                continue;
            }
            for (int j = 0; j < d; j++)
            {
                vCopy[(nint)j * keys + t] = vRow[j];
            }
        }

        // S[stacked, keys] = Q · Kᵀ; then, per row, HF eager order: (q·k) · scale, softmax over the visible keys.
        Gemm.Run(qBlock, stacked, new WeightMatrix(kCopy, DType.F32, keys, d), 0, keys, scores);
        for (int row = 0; row < stacked; row++)
        {
            int visible = shape.StartPos + r0 + row % rows + 1;
            var s = new Span<float>(scores + (nint)row * keys, keys);
            Span<float> seen = s[..visible];
            System.Numerics.Tensors.TensorPrimitives.Multiply(seen, shape.Scale, seen);
            Softmax.Compute(seen, seen);
            s[visible..].Clear();
        }

        if (smallHead)
        {
            for (int row = 0; row < stacked; row++)
            {
                int visible = shape.StartPos + r0 + row % rows + 1;
                WeightedSumOfRows(scores + (nint)row * keys, vCopy, visible, d, oBlock + (nint)row * d);
            }
        }
        else
        {
            // O[stacked, d] = S · V, with Vᵀ as the weight (d output features over keys).
            Gemm.Run(scores, stacked, new WeightMatrix(vCopy, DType.F32, d, keys), 0, d, oBlock);
        }
        for (int hh = 0; hh < group; hh++)
        {
            int h = g * group + hh;
            for (int i = 0; i < rows; i++)
            {
                new ReadOnlySpan<float>(oBlock + (nint)(hh * rows + i) * d, d).CopyTo(new Span<float>(output + (nint)(r0 + i) * qWidth + h * d, d));
            }
        }
    }

    /// <summary>o[0..d) = Σ_{t &lt; keys} w[t] · v[t, 0..d) for a row-major v with d &lt; <see cref="SmallHeadDim"/>.</summary>
    private static void WeightedSumOfRows(float* w, float* v, int keys, int d, float* o)
    {
        if (d == 8 && Vector256.IsHardwareAccelerated)
        {
            // Two partial sums so consecutive FMAs do not wait on each other.
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero;
            int t = 0;
            for (; t + 2 <= keys; t += 2)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(w[t]), Vector256.Load(v + (nint)t * 8), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(w[t + 1]), Vector256.Load(v + (nint)(t + 1) * 8), a1);
            }
            if (t < keys)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(w[t]), Vector256.Load(v + (nint)t * 8), a0);
            }
            (a0 + a1).Store(o);
            return;
        }
        new Span<float>(o, d).Clear();
        for (int t = 0; t < keys; t++)
        {
            float wt = w[t];
            float* vt = v + (nint)t * d;
            for (int j = 0; j < d; j++)
            {
                o[j] += wt * vt[j];
            }
        }
    }
}
