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

    /// <summary>Fewest head dims for which the blocked form pays; below it a key's dot is a few instructions.</summary>
    public const int MinHeadDim = 16;

    /// <summary>Whether <see cref="Compute"/> should serve <paramref name="shape"/>.</summary>
    public static bool Suits(in AttentionShape shape) => shape.Rows >= MinRows && shape.HeadDim >= MinHeadDim;

    /// <summary>Work items: KV heads × row blocks.</summary>
    public static int Items(in AttentionShape shape) => shape.KvHeads * RowBlocks(shape);

    /// <summary>Scratch floats one worker needs for any item of <paramref name="shape"/>.</summary>
    public static long ScratchLength(in AttentionShape shape)
    {
        long group = shape.Heads / shape.KvHeads, d = shape.HeadDim, keys = shape.StartPos + shape.Rows;
        long stacked = group * BlockRows;
        // Q block, K copy, Vᵀ copy, scores, output block.
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
        float* vTransposed = kCopy + (nint)keys * d;
        float* scores = vTransposed + (nint)d * keys;
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
        float* kHead = kCache + g * d, vHead = vCache + g * d;
        for (int t = 0; t < keys; t++)
        {
            new ReadOnlySpan<float>(kHead + (nint)t * kvWidth, d).CopyTo(new Span<float>(kCopy + (nint)t * d, d));
            float* vRow = vHead + (nint)t * kvWidth;
            for (int j = 0; j < d; j++)
            {
                vTransposed[(nint)j * keys + t] = vRow[j];
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

        // O[stacked, d] = S · V, with Vᵀ as the weight (d output features over keys).
        Gemm.Run(scores, stacked, new WeightMatrix(vTransposed, DType.F32, d, keys), 0, d, oBlock);
        for (int hh = 0; hh < group; hh++)
        {
            int h = g * group + hh;
            for (int i = 0; i < rows; i++)
            {
                new ReadOnlySpan<float>(oBlock + (nint)(hh * rows + i) * d, d).CopyTo(new Span<float>(output + (nint)(r0 + i) * qWidth + h * d, d));
            }
        }
    }
}
