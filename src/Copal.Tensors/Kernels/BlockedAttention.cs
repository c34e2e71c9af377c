using System.Diagnostics;
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
/// past the block's last row are never computed, nor keys before the block's first row's window (a sliding window,
/// <see cref="AttentionShape.Window"/>); keys outside a row's own range inside the block are zeroed after the softmax
/// of the visible ones, so each row's result is that of <see cref="Attention"/> up to summation order.
/// Head dims below <see cref="SmallHeadDim"/> skip both GEMMs: each row's scores, softmax and weighted sum of V are
/// computed directly (see <c>RunSmallHeadItem</c>).
/// </remarks>
internal static unsafe class BlockedAttention
{
    /// <summary>Query rows per work item (a multiple of the register tile's rows).</summary>
    public const int BlockRows = 4 * GemmMicroKernel.MR;

    /// <summary>Fewest query rows for which the blocked form pays; decode and short chunks use <see cref="Attention"/>.</summary>
    public const int MinRows = 16;

    /// <summary>
    /// Head dims below this take S = Q·Kᵀ and O = S·V as direct sums per row instead of GEMMs: 8-deep products and an
    /// 8-wide output would spend more time packing and reloading tiles than multiplying (stories260K has head dim 8).
    /// </summary>
    public const int SmallHeadDim = 16;

    /// <summary>Keys one step of the small-head score loop computes with Vector512: four 16-key FMA chains.</summary>
    private const int SmallHeadStep = 64;

    /// <summary>Whether <see cref="Compute"/> should serve <paramref name="shape"/>: enough query rows, any head dim.</summary>
    public static bool Suits(in AttentionShape shape) => shape.Rows >= MinRows;

    /// <summary>Work items: KV heads × row blocks.</summary>
    public static int Items(in AttentionShape shape) => shape.KvHeads * RowBlocks(shape);

    /// <summary>Scratch floats one worker needs for any item of <paramref name="shape"/>.</summary>
    public static long ScratchLength(in AttentionShape shape)
    {
        long group = shape.Heads / shape.KvHeads, d = shape.HeadDim, keys = MaxItemKeys(shape);
        long stacked = group * BlockRows;
        if (d < SmallHeadDim)
        {
            // Kᵀ and V over the keys padded to a whole score step, one row's scores.
            long padded = keys + SmallHeadStep - 1;
            return 2 * d * padded + padded;
        }
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

    /// <summary>Most keys one item attends: every position up to the last row, or a block's rows plus a window.</summary>
    private static long MaxItemKeys(in AttentionShape shape)
    {
        long all = (long)shape.StartPos + shape.Rows;
        return shape.Window > 0 ? Math.Min(all, (long)shape.Window + BlockRows - 1) : all;
    }

    private static void RunItem(float* q, float* kCache, float* vCache, in AttentionShape shape, int item, float* scratch, float* output)
    {
        int blocks = RowBlocks(shape);
        int g = item / blocks, r0 = item % blocks * BlockRows;
        int rows = Math.Min(BlockRows, shape.Rows - r0);
        if (shape.HeadDim < SmallHeadDim)
        {
            RunSmallHeadItem(q, kCache, vCache, shape, g, r0, rows, scratch, output);
            return;
        }
        int d = shape.HeadDim, group = shape.Heads / shape.KvHeads;
        int qWidth = shape.Heads * d, kvWidth = shape.KvHeads * d;
        // The block's keys: from its first row's first key to its last row's position; key t below is kFirst + t.
        int kFirst = shape.FirstKey(r0);
        int keys = shape.StartPos + r0 + rows - kFirst;
        int stacked = group * rows;

        float* qBlock = scratch;
        float* kCopy = qBlock + (nint)group * BlockRows * d;
        float* vCopy = kCopy + (nint)keys * d; // Vᵀ [d, keys], the weight of O = S·V
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
        float* kHead = kCache + (nint)kFirst * kvWidth + g * d, vHead = vCache + (nint)kFirst * kvWidth + g * d;
        for (int t = 0; t < keys; t++)
        {
            new ReadOnlySpan<float>(kHead + (nint)t * kvWidth, d).CopyTo(new Span<float>(kCopy + (nint)t * d, d));
            float* vRow = vHead + (nint)t * kvWidth;
            for (int j = 0; j < d; j++)
            {
                vCopy[(nint)j * keys + t] = vRow[j];
            }
        }

        // S[stacked, keys] = Q · Kᵀ; then, per row, HF eager order: (q·k) · scale, softmax over the visible keys.
        Gemm.Run(qBlock, stacked, new WeightMatrix(kCopy, DType.F32, keys, d), 0, keys, scores);
        for (int row = 0; row < stacked; row++)
        {
            // The row sees keys [lo, end) of the block's.
            int i = row % rows;
            int lo = shape.FirstKey(r0 + i) - kFirst, end = shape.StartPos + r0 + i + 1 - kFirst;
            float* s = scores + (nint)row * keys;
            float sum = Softmax.ScaledExp(s + lo, end - lo, shape.Scale, s + lo);
            System.Numerics.Tensors.TensorPrimitives.Multiply(new Span<float>(s + lo, end - lo), 1f / sum, new Span<float>(s + lo, end - lo));
            new Span<float>(s, lo).Clear();
            new Span<float>(s + end, keys - end).Clear();
        }
        // O[stacked, d] = S · V, with Vᵀ as the weight (d output features over keys).
        Gemm.Run(scores, stacked, new WeightMatrix(vCopy, DType.F32, d, keys), 0, d, oBlock);
        for (int hh = 0; hh < group; hh++)
        {
            int h = g * group + hh;
            for (int i = 0; i < rows; i++)
            {
                new ReadOnlySpan<float>(oBlock + (nint)(hh * rows + i) * d, d).CopyTo(new Span<float>(output + (nint)(r0 + i) * qWidth + h * d, d));
            }
        }
    }

    /// <summary>
    /// One item for a head dim below <see cref="SmallHeadDim"/>: per query row, its scores against Kᵀ as a direct sum
    /// over the head dim, the softmax numerators, and O as a weighted sum of V's rows, all on one row that stays in
    /// L1. With 8-wide heads the GEMMs spent more time packing and reloading their tiles than multiplying. Each
    /// score is the GEMM's sum in the GEMM's order (FMAs over the head dim from zero), so the scores are the same.
    /// </summary>
    private static void RunSmallHeadItem(float* q, float* kCache, float* vCache, in AttentionShape shape, int g, int r0, int rows,
        float* scratch, float* output)
    {
        int d = shape.HeadDim, group = shape.Heads / shape.KvHeads;
        int qWidth = shape.Heads * d, kvWidth = shape.KvHeads * d;
        // The block's keys: from its first row's first key to its last row's position; key t below is kFirst + t.
        int kFirst = shape.FirstKey(r0);
        int keys = shape.StartPos + r0 + rows - kFirst;
        // With Vector512 every row is computed in whole steps of keys (padding: zero keys and values), so no
        // row ends in a scalar tail; a tail of 15 keys cost as much as a hundred keys in vectors.
        bool wide = KernelPaths.UseVector512;
        int ld = wide ? RoundUp(keys, SmallHeadStep) : keys;
        float* kT = scratch; // Kᵀ [d, ld]
        float* vRows = kT + (nint)d * ld; // V [ld, d]
        float* s = vRows + (nint)ld * d; // one row's scores [ld]
        float* kHead = kCache + (nint)kFirst * kvWidth + g * d, vHead = vCache + (nint)kFirst * kvWidth + g * d;
        for (int t = 0; t < keys; t++)
        {
            float* kRow = kHead + (nint)t * kvWidth;
            for (int j = 0; j < d; j++)
            {
                kT[(nint)j * ld + t] = kRow[j];
            }
            new ReadOnlySpan<float>(vHead + (nint)t * kvWidth, d).CopyTo(new Span<float>(vRows + (nint)t * d, d));
        }
        for (int j = 0; j < d; j++)
        {
            new Span<float>(kT + (nint)j * ld + keys, ld - keys).Clear();
        }
        new Span<float>(vRows + (nint)keys * d, (ld - keys) * d).Clear();
        for (int hh = 0; hh < group; hh++)
        {
            int h = g * group + hh;
            for (int i = 0; i < rows; i++)
            {
                // The row sees keys [lo, end) of the block's. It is scored from `from` on: lo itself, or with
                // Vector512 the whole score step lo falls in, the keys before lo masked like those past end.
                int lo = shape.FirstKey(r0 + i) - kFirst, end = shape.StartPos + r0 + i + 1 - kFirst;
                int from = wide ? lo / SmallHeadStep * SmallHeadStep : lo;
                nint at = (nint)(r0 + i) * qWidth + h * d;
                float max = wide ? Scores512(q + at, kT + from, ld, lo - from, end - from, d, s) : Scores(q + at, kT + lo, ld, end - lo, d, s);
                // Outside [lo, end) the scores are −∞: their numerators are 0 and add nothing below.
                int n = wide ? RoundUp(end - from, Vector512<float>.Count) : end - lo;
                // HF eager order: (q·k) · scale, then softmax; O = (Σ_t e_t · v_t) / Σ_t e_t, the normalization
                // folded into the sum so the row is read once more, not twice.
                float sum = Softmax.ScaledExp(s, n, shape.Scale, max * shape.Scale, s);
                WeightedSumOfRows(s, vRows + (nint)from * d, n, d, output + at, 1f / sum, wide);
            }
        }
    }

    private static int RoundUp(int value, int step) => (value + step - 1) / step * step;

    /// <summary>
    /// s[t] = Σ_{j &lt; d} q[j] · kT[j, t] (FMAs in j order from zero) for <paramref name="lo"/> ≤ t &lt; n, and −∞
    /// for t below lo (lo &lt; <see cref="SmallHeadStep"/>) and up to the next multiple of SmallHeadStep (kT's stride
    /// <paramref name="ld"/> covers it); returns max_{lo ≤ t &lt; n} s[t].
    /// </summary>
    private static float Scores512(float* q, float* kT, int ld, int lo, int n, int d, float* s)
    {
        Vector512<float> vmax = Vector512.Create(float.NegativeInfinity);
        Vector512<int> lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int t = 0; t < n; t += SmallHeadStep)
        {
            // Four 16-key blocks at a time: four independent FMA chains, so each waits on its own latency only.
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            float* k = kT + t;
            for (int j = 0; j < d; j++, k += ld)
            {
                Vector512<float> qj = Vector512.Create(q[j]);
                a0 = Vector512.FusedMultiplyAdd(qj, Vector512.Load(k), a0);
                a1 = Vector512.FusedMultiplyAdd(qj, Vector512.Load(k + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(qj, Vector512.Load(k + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(qj, Vector512.Load(k + 48), a3);
            }
            if (t + SmallHeadStep > n || t < lo)
            {
                // Keys t + lane outside [lo, n) are hidden.
                Vector512<float> hidden = Vector512.Create(float.NegativeInfinity);
                Vector512<int> first = Vector512.Create(lo - t), last = Vector512.Create(n - t);
                a0 = Vector512.ConditionalSelect(Visible(lane, first, last), a0, hidden);
                a1 = Vector512.ConditionalSelect(Visible(lane + Vector512.Create(16), first, last), a1, hidden);
                a2 = Vector512.ConditionalSelect(Visible(lane + Vector512.Create(32), first, last), a2, hidden);
                a3 = Vector512.ConditionalSelect(Visible(lane + Vector512.Create(48), first, last), a3, hidden);
            }
            a0.Store(s + t);
            a1.Store(s + t + 16);
            a2.Store(s + t + 32);
            a3.Store(s + t + 48);
            vmax = Vector512.Max(vmax, Vector512.Max(Vector512.Max(a0, a1), Vector512.Max(a2, a3)));
        }
        return MaxOf(Vector256.Max(vmax.GetLower(), vmax.GetUpper()));
    }

    /// <summary>Lanes with first ≤ lane &lt; last, as a float mask.</summary>
    private static Vector512<float> Visible(Vector512<int> lane, Vector512<int> first, Vector512<int> last) =>
        (Vector512.GreaterThanOrEqual(lane, first) & Vector512.LessThan(lane, last)).AsSingle();

    /// <summary>s[t] = Σ_{j &lt; d} q[j] · kT[j, t] for t &lt; n (FMAs in j order from zero); returns max_t s[t].</summary>
    private static float Scores(float* q, float* kT, int ld, int n, int d, float* s)
    {
        int t = 0;
        float max = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vmax = Vector256.Create(float.NegativeInfinity);
            for (; t + 8 <= n; t += 8)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                for (int j = 0; j < d; j++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(q[j]), Vector256.Load(kT + (nint)j * ld + t), acc);
                }
                acc.Store(s + t);
                vmax = Vector256.Max(vmax, acc);
            }
            max = MaxOf(vmax);
        }
        for (; t < n; t++)
        {
            float acc = 0f;
            for (int j = 0; j < d; j++)
            {
                acc = MathF.FusedMultiplyAdd(q[j], kT[(nint)j * ld + t], acc);
            }
            s[t] = acc;
            max = MathF.Max(max, acc);
        }
        return max;
    }

    private static float MaxOf(Vector256<float> v)
    {
        float max = v[0];
        for (int i = 1; i < Vector256<float>.Count; i++)
        {
            max = MathF.Max(max, v[i]);
        }
        return max;
    }

    /// <summary>
    /// o[0..d) = norm · Σ_{t &lt; keys} w[t] · v[t, 0..d) for a row-major v with d &lt; <see cref="SmallHeadDim"/>.
    /// <paramref name="wide"/>: the Vector512 path, whose rows are padded to whole steps of 16 keys.
    /// </summary>
    private static void WeightedSumOfRows(float* w, float* v, int keys, int d, float* o, float norm, bool wide)
    {
        if (d == 8 && wide)
        {
            // Two keys per vector: rows t and t+1 of v are 16 consecutive floats, weighted by [w_t ×8, w_t+1 ×8].
            // Two partial sums so consecutive FMAs do not wait on each other. The padded row leaves no tail to the
            // steps of four keys.
            Debug.Assert(keys % Vector512<float>.Count == 0, $"keys {keys} on the Vector512 path, expected whole steps of 16");
            Vector512<int> pair0 = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            Vector512<int> pair1 = Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero;
            int t = 0;
            for (; t + 4 <= keys; t += 4)
            {
                Vector512<float> weights = Vector128.Load(w + t).ToVector256Unsafe().ToVector512Unsafe();
                a0 = Vector512.FusedMultiplyAdd(Vector512.Shuffle(weights, pair0), Vector512.Load(v + (nint)t * 8), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Shuffle(weights, pair1), Vector512.Load(v + (nint)(t + 2) * 8), a1);
            }
            Vector512<float> sum = a0 + a1;
            Vector256<float> total = sum.GetLower() + sum.GetUpper();
            (total * norm).Store(o);
            return;
        }
        if (d == 8 && Vector256.IsHardwareAccelerated)
        {
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
            ((a0 + a1) * norm).Store(o);
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
        for (int j = 0; j < d; j++)
        {
            o[j] *= norm;
        }
    }
}
