using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Attention for head dimensions that are a multiple of 4, laid out for a GPU's memory. A decode step reads little
/// (a 7B layer's cache of 512 keys is 16 MB, 4 µs of an H200's memory) in few groups, so its time is load latency,
/// and the kernels keep many independent 16-byte loads in flight. Per block of <see cref="AttentionKernel.KeyBlock"/> keys:
/// <list type="bullet">
/// <item>scores: a team of lanes per key (a warp on a GPU, as in <see cref="OutputTeams"/>): lane u reads quad u of
/// the key, so a key's row is one coalesced read, and a team issues <see cref="KeysInFlight"/> keys' loads before it
/// uses any, then sums each with warp shuffles. A thread per key, as before, waited out eight memory latencies a key
/// of 128 dimensions, one for each four of its 32 quads;</item>
/// <item>values: thread t owns quad u of the head and a subset s of the block's keys (t = s · quads + u), so a
/// warp reads whole value rows, coalesced, and each thread loads <see cref="KeysInFlight"/> keys' quads before it
/// adds them. The subsets' partial sums meet in shared memory at the end.</item>
/// </list>
/// A long decode also splits its keys over several groups per head (<see cref="AttentionSplit"/>, then
/// <see cref="AttentionCombine"/>), so more multiprocessors share the cache's latency: the partial softmaxes
/// combine exactly, each rescaled by exp(its max − the overall max).
/// </summary>
internal static class AttentionQuadsKernels
{
    /// <summary>Keys whose quads a thread loads before it uses any, in the scores and in the values.</summary>
    private const int KeysInFlight = 4;

    /// <summary>Floats of one split's partial result: the head's unnormalized output, then its maximum and sum (padded to a quad).</summary>
    public static int PartialStride(int headDim) => headDim + 4;

    /// <summary>
    /// Grid (heads, row groups): a group takes one query head and the rows Grid.IdxY, Grid.IdxY + Grid.DimY, …, each
    /// over every key (its window's, with a <paramref name="window"/> above 0).
    /// </summary>
    public static void Attention(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> output,
        int rows, int startPos, int heads, int kvHeads, int headDim, float scale, int window)
    {
        ArrayView<Quad> qs = SharedMemory.Allocate<Quad>(AttentionKernel.MaxHeadDim / 4);
        ArrayView<Quad> acc = SharedMemory.Allocate<Quad>(AttentionKernel.KeyBlock);
        ArrayView<float> probs = SharedMemory.Allocate<float>(AttentionKernel.KeyBlock);
        int head = Grid.IdxX, rowStep = Grid.DimY;
        var layout = new Layout(head, heads, kvHeads, headDim, Group.DimX);
        ArrayView<Quad> q4 = q.Cast<Quad>(), out4 = output.Cast<Quad>();
        for (int row = Grid.IdxY; row < rows; row += rowStep)
        {
            long qBase = (((long)row * heads) + head) * layout.Quads;
            Begin(q4, qBase, qs, acc, layout);
            int keys = startPos + row + 1;
            OnlineSoftmax state = Accumulate(qs, acc, probs, kCache.Cast<Quad>(), vCache.Cast<Quad>(), AttentionKernel.FirstKey(keys, window), keys, scale, layout);
            float inv = 1f / state.Sum;
            for (int u = Group.IdxX; u < layout.Quads; u += layout.Block)
            {
                out4[qBase + u] = Scale(SumSubsets(acc, u, layout), inv);
            }

            // The subsets' sums read other threads' accumulators, which the next row's Begin clears.
            Group.Barrier();
        }
    }

    /// <summary>
    /// One decode row, grid (heads, splits): split s takes keys [f + s · keysPerSplit, f + (s + 1) · keysPerSplit),
    /// f the row's first key (0, or its window's start), and writes its unnormalized output, maximum and sum to
    /// <paramref name="partials"/> (<see cref="PartialStride"/> floats per head and split).
    /// </summary>
    public static void AttentionSplit(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> partials,
        int startPos, int heads, int kvHeads, int headDim, float scale, int window, int keysPerSplit)
    {
        ArrayView<Quad> qs = SharedMemory.Allocate<Quad>(AttentionKernel.MaxHeadDim / 4);
        ArrayView<Quad> acc = SharedMemory.Allocate<Quad>(AttentionKernel.KeyBlock);
        ArrayView<float> probs = SharedMemory.Allocate<float>(AttentionKernel.KeyBlock);
        int head = Grid.IdxX, split = Grid.IdxY, splits = Grid.DimY;
        var layout = new Layout(head, heads, kvHeads, headDim, Group.DimX);
        Begin(q.Cast<Quad>(), (long)head * layout.Quads, qs, acc, layout);
        int first = AttentionKernel.FirstKey(startPos + 1, window) + (split * keysPerSplit);
        OnlineSoftmax state = Accumulate(qs, acc, probs, kCache.Cast<Quad>(), vCache.Cast<Quad>(), first,
            IntrinsicMath.Min(startPos + 1, first + keysPerSplit), scale, layout);
        long at = (((long)head * splits) + split) * PartialStride(headDim);
        ArrayView<Quad> partial4 = partials.Cast<Quad>();
        for (int u = Group.IdxX; u < layout.Quads; u += layout.Block)
        {
            partial4[(at >> 2) + u] = SumSubsets(acc, u, layout);
        }
        if (Group.IdxX == 0)
        {
            partials[at + headDim] = state.Max;
            partials[at + headDim + 1] = state.Sum;
        }
    }

    /// <summary>Element i = head · headDim + d of the output: the splits' partial results, each rescaled to the overall maximum.</summary>
    public static void AttentionCombine(Index1D i, ArrayView<float> partials, ArrayView<float> output, int headDim, int splits)
    {
        int head = i / headDim, d = i - (head * headDim), stride = PartialStride(headDim);
        long first = (long)head * splits * stride;
        float max = float.MinValue;
        for (int s = 0; s < splits; s++)
        {
            max = XMath.Max(max, partials[first + (s * stride) + headDim]);
        }
        float sum = 0f, value = 0f;
        for (int s = 0; s < splits; s++)
        {
            long at = first + (s * stride);
            float weight = XMath.Exp(partials[at + headDim] - max);
            sum += weight * partials[at + headDim + 1];
            value += weight * partials[at + d];
        }
        output[i] = value / sum;
    }

    /// <summary>How a group shares out one head: quads, the value pass's key subsets and its (quad, subset) slots.</summary>
    private readonly struct Layout
    {
        public Layout(int head, int heads, int kvHeads, int headDim, int block)
        {
            Block = block;
            // A team per key in the scores, as the GEMVs' teams per output: a warp, or one thread in a group
            // narrower than a warp (ILGPU's CPU accelerator).
            Team = block < Warp.WarpSize ? 1 : Warp.WarpSize;
            Quads = headDim >> 2;
            // As many subsets as the group holds whole heads of quads, at least one: a group narrower than a head
            // (the CPU accelerator's one thread) walks several quads per thread instead.
            Subsets = IntrinsicMath.Max(1, block / Quads);
            Slots = Subsets * Quads;
            KvStride = (kvHeads * headDim) >> 2;
            KvOffset = (long)(head / (heads / kvHeads)) * Quads;
        }

        public int Block { get; }
        public int Team { get; }
        public int Quads { get; }
        public int Subsets { get; }
        public int Slots { get; }
        public int KvStride { get; }
        public long KvOffset { get; }
    }

    /// <summary>Loads the query into shared memory and clears the accumulators.</summary>
    private static void Begin(ArrayView<Quad> q4, long qBase, ArrayView<Quad> qs, ArrayView<Quad> acc, Layout layout)
    {
        for (int u = Group.IdxX; u < layout.Quads; u += layout.Block)
        {
            qs[u] = q4[qBase + u];
        }
        for (int p = Group.IdxX; p < layout.Slots; p += layout.Block)
        {
            acc[p] = default;
        }
        Group.Barrier();
    }

    /// <summary>Keys [first, end) into the accumulators, a block at a time, with an online softmax.</summary>
    private static OnlineSoftmax Accumulate(ArrayView<Quad> qs, ArrayView<Quad> acc, ArrayView<float> probs, ArrayView<Quad> k4, ArrayView<Quad> v4,
        int first, int end, float scale, Layout layout)
    {
        int t = Group.IdxX, block = layout.Block, subsets = layout.Subsets, kvStride = layout.KvStride;
        OnlineSoftmax state = OnlineSoftmax.Start();
        for (int j0 = first; j0 < end; j0 += AttentionKernel.KeyBlock)
        {
            int count = IntrinsicMath.Min(AttentionKernel.KeyBlock, end - j0);
            float blockMax = Scores(qs, k4, probs, j0, count, scale, layout);
            state = OnlineSoftmax.AddBlock(state, probs, count, blockMax, t, block);

            for (int p = t; p < layout.Slots; p += block)
            {
                int u = p % layout.Quads, s = p / layout.Quads;
                long at = ((long)j0 * kvStride) + layout.KvOffset + u;
                Quad a = Scale(acc[p], state.Rescale);
                int jj = s;
                for (; jj + ((KeysInFlight - 1) * subsets) < count; jj += KeysInFlight * subsets)
                {
                    Quad v0 = v4[at + ((long)jj * kvStride)];
                    Quad v1 = v4[at + ((long)(jj + subsets) * kvStride)];
                    Quad v2 = v4[at + ((long)(jj + (2 * subsets)) * kvStride)];
                    Quad v3 = v4[at + ((long)(jj + (3 * subsets)) * kvStride)];
                    a = Axpy(a, probs[jj], v0);
                    a = Axpy(a, probs[jj + subsets], v1);
                    a = Axpy(a, probs[jj + (2 * subsets)], v2);
                    a = Axpy(a, probs[jj + (3 * subsets)], v3);
                }
                for (; jj < count; jj += subsets)
                {
                    a = Axpy(a, probs[jj], v4[at + ((long)jj * kvStride)]);
                }
                acc[p] = a;
            }
            Group.Barrier();
        }
        return state;
    }

    /// <summary>Quad u of the head: the value pass's subsets added up.</summary>
    private static Quad SumSubsets(ArrayView<Quad> acc, int u, Layout layout)
    {
        Quad sum = acc[u];
        for (int s = 1; s < layout.Subsets; s++)
        {
            sum = Axpy(sum, 1f, acc[(s * layout.Quads) + u]);
        }
        return sum;
    }

    /// <summary>
    /// The block's scaled scores qs · key into <paramref name="probs"/>[0, count), a team per key, each team
    /// taking <see cref="KeysInFlight"/> keys at a time; returns this thread's maximum of the scores it wrote (its
    /// team's first lane writes them) and ends with a barrier, so every thread then reads every score.
    /// </summary>
    private static float Scores(ArrayView<Quad> qs, ArrayView<Quad> k4, ArrayView<float> probs, int j0, int count, float scale, Layout layout)
    {
        int t = Group.IdxX, team = layout.Team, lane = t % team, teams = layout.Block / team;
        float blockMax = float.MinValue;
        for (int jj = t / team; jj < count; jj += KeysInFlight * teams)
        {
            // Keys past the block's end re-read key jj (in the cache, so the load is valid) and are not written.
            int j1 = jj + teams, j2 = j1 + teams, j3 = j2 + teams;
            long a0 = KeyAt(j0 + jj, layout), a1 = KeyAt(j0 + (j1 < count ? j1 : jj), layout);
            long a2 = KeyAt(j0 + (j2 < count ? j2 : jj), layout), a3 = KeyAt(j0 + (j3 < count ? j3 : jj), layout);
            float d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
            for (int u = lane; u < layout.Quads; u += team)
            {
                Quad k0 = k4[a0 + u], k1 = k4[a1 + u], k2 = k4[a2 + u], k3 = k4[a3 + u];
                Quad qu = qs[u];
                d0 += Dot(qu, k0);
                d1 += Dot(qu, k1);
                d2 += Dot(qu, k2);
                d3 += Dot(qu, k3);
            }
            // Every lane of the team takes part in the sums; the first holds them.
            d0 = OutputTeams.Sum(d0, team) * scale;
            d1 = OutputTeams.Sum(d1, team) * scale;
            d2 = OutputTeams.Sum(d2, team) * scale;
            d3 = OutputTeams.Sum(d3, team) * scale;
            if (lane == 0)
            {
                probs[jj] = d0;
                blockMax = XMath.Max(blockMax, d0);
                if (j1 < count)
                {
                    probs[j1] = d1;
                    blockMax = XMath.Max(blockMax, d1);
                }
                if (j2 < count)
                {
                    probs[j2] = d2;
                    blockMax = XMath.Max(blockMax, d2);
                }
                if (j3 < count)
                {
                    probs[j3] = d3;
                    blockMax = XMath.Max(blockMax, d3);
                }
            }
        }
        Group.Barrier();
        return blockMax;
    }

    /// <summary>The quad index of key j's row for this group's head in the cache.</summary>
    private static long KeyAt(int j, Layout layout) => ((long)j * layout.KvStride) + layout.KvOffset;

    private static float Dot(Quad a, Quad b) => (a.X * b.X) + (a.Y * b.Y) + (a.Z * b.Z) + (a.W * b.W);

    private static Quad Axpy(Quad a, float p, Quad v) =>
        new() { X = a.X + (p * v.X), Y = a.Y + (p * v.Y), Z = a.Z + (p * v.Z), W = a.W + (p * v.W) };

    private static Quad Scale(Quad a, float s) => new() { X = a.X * s, Y = a.Y * s, Z = a.Z * s, W = a.W * s };
}
