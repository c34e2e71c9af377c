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

    /// <summary>
    /// Any head dimension (the odd ones of tests); the quad kernels (<see cref="AttentionQuadsKernels"/>) take
    /// every multiple of 4, which is every LLaMA. Grid (heads, row groups): a group takes one query head and the rows
    /// Grid.IdxY, Grid.IdxY + Grid.DimY, …, so a long prefill needs no more groups than the plan allows (on ILGPU's
    /// CPU accelerator every group's shared memory is held until the launch ends). Keys
    /// are visited in blocks of <see cref="KeyBlock"/>:
    /// the group's threads score them (one each on a GPU, all of them on a one-thread CPU group, so the group
    /// reductions run once per block either way), the group finds the block maximum and the sum of exponentials,
    /// and the running (online) softmax (<see cref="OnlineSoftmax"/>) rescales the accumulated output, so memory does
    /// not grow with the sequence. The query, the block's probabilities and the output accumulator live in shared memory.
    /// A <paramref name="window"/> above 0 starts each row's keys at its sliding window (<see cref="AttentionShape.Window"/>).
    /// </summary>
    public static void Attention(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> output,
        int rows, int startPos, int heads, int kvHeads, int headDim, float scale, int window)
    {
        ArrayView<float> qs = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> acc = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> probs = SharedMemory.Allocate<float>(KeyBlock);
        int t = Group.IdxX, block = Group.DimX;
        int head = Grid.IdxX, rowStep = Grid.DimY;
        int kvHead = head / (heads / kvHeads);
        int kvStride = kvHeads * headDim;
        long kvOffset = (long)kvHead * headDim;
        for (int row = Grid.IdxY; row < rows; row += rowStep)
        {
            long qBase = ((long)row * heads * headDim) + ((long)head * headDim);
            int keys = startPos + row + 1;
            int firstKey = FirstKey(keys, window);

            for (int d = t; d < headDim; d += block)
            {
                qs[d] = q[qBase + d];
                acc[d] = 0f;
            }
            Group.Barrier();

            OnlineSoftmax state = OnlineSoftmax.Start();
            for (int j0 = firstKey; j0 < keys; j0 += KeyBlock)
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
                state = OnlineSoftmax.AddBlock(state, probs, count, blockMax, t, block);

                for (int d = t; d < headDim; d += block)
                {
                    float a = acc[d] * state.Rescale;
                    long v = ((long)j0 * kvStride) + kvOffset + d;
                    for (int jj = 0; jj < count; jj++)
                    {
                        a += probs[jj] * vCache[v + ((long)jj * kvStride)];
                    }
                    acc[d] = a;
                }
                Group.Barrier();
            }

            float inv = 1f / state.Sum;
            for (int d = t; d < headDim; d += block)
            {
                output[qBase + d] = acc[d] * inv;
            }
        }
    }

    /// <summary>The first of a row's <paramref name="keys"/> keys it attends: 0, or the start of its window (0: none).</summary>
    public static int FirstKey(int keys, int window) => window > 0 ? IntrinsicMath.Max(0, keys - window) : 0;
}
