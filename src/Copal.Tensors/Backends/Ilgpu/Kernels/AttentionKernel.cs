using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>Causal grouped-query attention over the KV cache, any number of keys.</summary>
internal static class AttentionKernel
{
    /// <summary>Largest head dimension the kernel holds in shared memory.</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Largest group, and so key block, the kernel's shared arrays hold.</summary>
    public const int MaxGroup = 256;

    /// <summary>
    /// One group per (query head, query row): grid (heads, rows). Keys are visited in blocks of one key per thread:
    /// each thread scores its key, the group finds the block maximum and the sum of exponentials, and the running
    /// (online) softmax rescales the accumulated output by exp(oldMax − newMax), so memory does not grow with the
    /// sequence. The query and the output accumulator live in shared memory.
    /// </summary>
    public static void Attention(ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<float> output,
        int startPos, int heads, int kvHeads, int headDim, float scale)
    {
        ArrayView<float> qs = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> acc = SharedMemory.Allocate<float>(MaxHeadDim);
        ArrayView<float> probs = SharedMemory.Allocate<float>(MaxGroup);
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
        for (int j0 = 0; j0 < keys; j0 += block)
        {
            int j = j0 + t;
            float score = float.MinValue;
            if (j < keys)
            {
                long k = ((long)j * kvStride) + kvOffset;
                float dot = 0f;
                for (int d = 0; d < headDim; d++)
                {
                    dot += qs[d] * kCache[k + d];
                }
                score = dot * scale;
            }
            float newMax = XMath.Max(runningMax, GroupExtensions.AllReduce<float, MaxFloat>(score));
            float p = j < keys ? XMath.Exp(score - newMax) : 0f;
            probs[t] = p;
            float blockSum = GroupExtensions.AllReduce<float, AddFloat>(p);
            Group.Barrier();
            float rescale = XMath.Exp(runningMax - newMax);
            runningSum = (runningSum * rescale) + blockSum;
            runningMax = newMax;

            int count = IntrinsicMath.Min(block, keys - j0);
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
}
