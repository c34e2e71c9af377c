/* Causal grouped-query attention over the KV cache, any number of keys.
 * One work-group of ATTN_BLOCK threads per (query head, query row). Keys are visited in blocks of ATTN_BLOCK:
 * each thread scores one key, the group finds the block maximum and the sum of exponentials, and the running
 * (online) softmax rescales the accumulated output by exp(oldMax - newMax), so memory does not grow with the
 * sequence. The query and the output accumulator of one head live in local memory. */

#define ATTN_BLOCK 64
#define ATTN_MAX_HEAD_DIM 256

KERNEL void attention(GLOBAL const float* q, GLOBAL const float* kCache, GLOBAL const float* vCache, GLOBAL float* out,
    int startPos, int heads, int kvHeads, int headDim, float scale)
{
    LOCAL_ARRAY float qs[ATTN_MAX_HEAD_DIM];
    LOCAL_ARRAY float acc[ATTN_MAX_HEAD_DIM];
    LOCAL_ARRAY float probs[ATTN_BLOCK];
    LOCAL_ARRAY float scratch[ATTN_BLOCK];

    int head = GROUP_ID(0);
    int row = GROUP_ID(1);
    int t = LOCAL_ID(0);
    int kvHead = head / (heads / kvHeads);
    int kvStride = kvHeads * headDim;
    idx_t qBase = (idx_t)row * heads * headDim + head * headDim;
    int keys = startPos + row + 1;

    for (int d = t; d < headDim; d += ATTN_BLOCK)
    {
        qs[d] = q[qBase + d];
        acc[d] = 0.0f;
    }
    BARRIER();

    float runningMax = -3.402823466e+38f;
    float runningSum = 0.0f;
    for (int j0 = 0; j0 < keys; j0 += ATTN_BLOCK)
    {
        int j = j0 + t;
        float score = -3.402823466e+38f;
        if (j < keys)
        {
            GLOBAL const float* k = kCache + (idx_t)j * kvStride + kvHead * headDim;
            float dot = 0.0f;
            for (int d = 0; d < headDim; d++)
            {
                dot += qs[d] * k[d];
            }
            score = dot * scale;
        }
        float newMax = FMAX(runningMax, group_max(scratch, score));
        float p = j < keys ? EXP(score - newMax) : 0.0f;
        probs[t] = p;
        float blockSum = group_sum(scratch, p);
        float rescale = EXP(runningMax - newMax);
        runningSum = runningSum * rescale + blockSum;
        runningMax = newMax;

        int count = IMIN(ATTN_BLOCK, keys - j0);
        for (int d = t; d < headDim; d += ATTN_BLOCK)
        {
            float a = acc[d] * rescale;
            GLOBAL const float* v = vCache + (idx_t)j0 * kvStride + kvHead * headDim + d;
            for (int jj = 0; jj < count; jj++)
            {
                a += probs[jj] * v[(idx_t)jj * kvStride];
            }
            acc[d] = a;
        }
        BARRIER();
    }

    float inv = 1.0f / runningSum;
    for (int d = t; d < headDim; d += ATTN_BLOCK)
    {
        out[qBase + d] = acc[d] * inv;
    }
}
