using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>Causal grouped-query attention over the KV cache, any number of keys.</summary>
internal static class AttentionKernel
{
    /// <summary>Largest head dimension the kernel holds in shared memory.</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Keys scored per step of the online softmax; the group (at most this many threads) shares them out.</summary>
    public const int KeyBlock = 256;

    /// <summary>Keys whose values a thread loads before it uses any, in <see cref="AttentionQuads"/>.</summary>
    private const int KeysInFlight = 4;

    /// <summary>
    /// Any head dimension (the odd ones of tests); <see cref="AttentionQuads"/> takes every multiple of 4, which is
    /// every LLaMA. One group per (query head, query row): grid (heads, rows). Keys are visited in blocks of <see cref="KeyBlock"/>:
    /// the group's threads score them (one each on a GPU, all of them on a one-thread CPU group, so the group
    /// reductions run once per block either way), the group finds the block maximum and the sum of exponentials,
    /// and the running (online) softmax rescales the accumulated output by exp(oldMax − newMax), so memory does not
    /// grow with the sequence. The query, the block's probabilities and the output accumulator live in shared memory.
    /// </summary>
    public static void Attention(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> output,
        int startPos, int heads, int kvHeads, int headDim, float scale)
    {
        ArrayView<float> qs = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> acc = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> probs = SharedMemory.Allocate<float>(KeyBlock);
        int t = Group.IdxX, block = Group.DimX;
        int head = Grid.IdxX, row = Grid.IdxY;
        int kvHead = head / (heads / kvHeads);
        int kvStride = kvHeads * headDim;
        long kvOffset = (long)kvHead * headDim;
        long qBase = ((long)row * heads * headDim) + ((long)head * headDim);
        int keys = startPos + row + 1;

        for (int d = t; d < headDim; d += block)
        {
            qs[d] = q[qBase + d];
            acc[d] = 0f;
        }
        Group.Barrier();

        float runningMax = float.MinValue;
        float runningSum = 0f;
        for (int j0 = 0; j0 < keys; j0 += KeyBlock)
        {
            int count = IntrinsicMath.Min(KeyBlock, keys - j0);
            float blockMax = float.MinValue;
            for (int jj = t; jj < count; jj += block)
            {
                long k = ((long)(j0 + jj) * kvStride) + kvOffset;
                float dot = 0f;
                for (int d = 0; d < headDim; d++)
                {
                    dot += qs[d] * kCache[k + d];
                }
                float score = dot * scale;
                probs[jj] = score;
                blockMax = XMath.Max(blockMax, score);
            }
            float newMax = XMath.Max(runningMax, GroupReductions.Max(blockMax, block));
            float partial = 0f;
            for (int jj = t; jj < count; jj += block)
            {
                float p = XMath.Exp(probs[jj] - newMax);
                probs[jj] = p;
                partial += p;
            }
            float blockSum = GroupReductions.Sum(partial, block);
            Group.Barrier();
            float rescale = XMath.Exp(runningMax - newMax);
            runningSum = (runningSum * rescale) + blockSum;
            runningMax = newMax;

            for (int d = t; d < headDim; d += block)
            {
                float a = acc[d] * rescale;
                long v = ((long)j0 * kvStride) + kvOffset + d;
                for (int jj = 0; jj < count; jj++)
                {
                    a += probs[jj] * vCache[v + ((long)jj * kvStride)];
                }
                acc[d] = a;
            }
            Group.Barrier();
        }

        float inv = 1f / runningSum;
        for (int d = t; d < headDim; d += block)
        {
            output[qBase + d] = acc[d] * inv;
        }
    }

    /// <summary>
    /// The same attention for head dimensions that are a multiple of 4, laid out for a GPU's memory: decode has
    /// one group per head (32 groups on a GPU with 132 multiprocessors), so the time is latency, and the kernel
    /// keeps many independent 16-byte loads in flight. Per block of <see cref="KeyBlock"/> keys:
    /// <list type="bullet">
    /// <item>scores: a thread per key reads the key as quads and issues four before it uses any;</item>
    /// <item>values: thread t owns quad u of the head and a subset s of the block's keys (t = s · quads + u), so a
    /// warp reads whole value rows, coalesced, and each thread loads <see cref="KeysInFlight"/> keys' quads before
    /// it adds them. The subsets' partial sums meet in shared memory at the end.</item>
    /// </list>
    /// The previous layout (a thread per key, reading its key's floats one at a time, then a thread per dimension
    /// walking the block's keys one load at a time) waited on a dependent load per key.
    /// </summary>
    public static void AttentionQuads(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> output,
        int startPos, int heads, int kvHeads, int headDim, float scale)
    {
        ArrayView<Quad> qs = SharedMemory.Allocate<Quad>(MaxHeadDim / 4);
        ArrayView<Quad> acc = SharedMemory.Allocate<Quad>(KeyBlock);
        ArrayView<float> probs = SharedMemory.Allocate<float>(KeyBlock);
        ArrayView<Quad> k4 = kCache.Cast<Quad>(), v4 = vCache.Cast<Quad>();
        int t = Group.IdxX, block = Group.DimX;
        int head = Grid.IdxX, row = Grid.IdxY;
        int quads = headDim >> 2;
        // Key subsets of the value pass: as many as the group holds whole heads of quads, at least one. A group
        // narrower than a head (the CPU accelerator's one thread) walks several quads per thread instead.
        int subsets = IntrinsicMath.Max(1, block / quads);
        int slots = subsets * quads;
        int kvStride = (kvHeads * headDim) >> 2;
        long kvOffset = (long)(head / (heads / kvHeads)) * quads;
        long qBase = (((long)row * heads) + head) * quads;
        int keys = startPos + row + 1;

        ArrayView<Quad> q4 = q.Cast<Quad>();
        for (int u = t; u < quads; u += block)
        {
            qs[u] = q4[qBase + u];
        }
        for (int p = t; p < slots; p += block)
        {
            acc[p] = default;
        }
        Group.Barrier();

        float runningMax = float.MinValue;
        float runningSum = 0f;
        for (int j0 = 0; j0 < keys; j0 += KeyBlock)
        {
            int count = IntrinsicMath.Min(KeyBlock, keys - j0);
            float blockMax = float.MinValue;
            for (int jj = t; jj < count; jj += block)
            {
                float score = Dot(qs, k4, ((long)(j0 + jj) * kvStride) + kvOffset, quads) * scale;
                probs[jj] = score;
                blockMax = XMath.Max(blockMax, score);
            }
            float newMax = XMath.Max(runningMax, GroupReductions.Max(blockMax, block));
            float partial = 0f;
            for (int jj = t; jj < count; jj += block)
            {
                float p = XMath.Exp(probs[jj] - newMax);
                probs[jj] = p;
                partial += p;
            }
            float blockSum = GroupReductions.Sum(partial, block);
            Group.Barrier();
            float rescale = XMath.Exp(runningMax - newMax);
            runningSum = (runningSum * rescale) + blockSum;
            runningMax = newMax;

            for (int p = t; p < slots; p += block)
            {
                int u = p % quads, s = p / quads;
                long at = ((long)j0 * kvStride) + kvOffset + u;
                Quad a = Scale(acc[p], rescale);
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

        float inv = 1f / runningSum;
        ArrayView<Quad> out4 = output.Cast<Quad>();
        for (int u = t; u < quads; u += block)
        {
            Quad sum = acc[u];
            for (int s = 1; s < subsets; s++)
            {
                sum = Axpy(sum, 1f, acc[(s * quads) + u]);
            }
            out4[qBase + u] = Scale(sum, inv);
        }
    }

    /// <summary>qs · key, the key's quads from <paramref name="at"/>, four loads issued before the first is used.</summary>
    private static float Dot(ArrayView<Quad> qs, ArrayView<Quad> k4, long at, int quads)
    {
        float d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
        int u = 0;
        for (; u + 3 < quads; u += 4)
        {
            Quad k0 = k4[at + u], k1 = k4[at + u + 1], k2 = k4[at + u + 2], k3 = k4[at + u + 3];
            d0 += Dot(qs[u], k0);
            d1 += Dot(qs[u + 1], k1);
            d2 += Dot(qs[u + 2], k2);
            d3 += Dot(qs[u + 3], k3);
        }
        for (; u < quads; u++)
        {
            d0 += Dot(qs[u], k4[at + u]);
        }
        return (d0 + d1) + (d2 + d3);
    }

    private static float Dot(Quad a, Quad b) => (a.X * b.X) + (a.Y * b.Y) + (a.Z * b.Z) + (a.W * b.W);

    private static Quad Axpy(Quad a, float p, Quad v) =>
        new() { X = a.X + (p * v.X), Y = a.Y + (p * v.Y), Z = a.Z + (p * v.Z), W = a.W + (p * v.W) };

    private static Quad Scale(Quad a, float s) => new() { X = a.X * s, Y = a.Y * s, Z = a.Z * s, W = a.W * s };
}
