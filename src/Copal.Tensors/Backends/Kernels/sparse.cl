/* Sparse weights (docs/sparse-formats.md): y[r, o] = sum_c x[r, c] * W[o, c] for W stored N:M or as a bitmask,
 * values in their stored dtype (F32 or BF16). One work-group per output feature o; it loops over the input rows,
 * so a row of W is fetched from memory once and re-read from cache for every further input row. That is the decode
 * shape (rows = 1); prefill is not tiled like the dense GEMM. */

/* N:M: per row of W, cols/m groups of n stored values. Value k's in-group column is the `bits`-wide field at bit
 * k*bits of the row's index stream (index_stride bytes per row, little-endian); threads take whole groups. */
DEVICE_FN void spmm_nm(GLOBAL const float* x, GLOBAL const void* values, GLOBAL const uchar* index, GLOBAL float* y,
    int rows, int outs, int cols, int n, int m, int bits, int index_stride, int dtype, LOCAL float* scratch)
{
    int o = GROUP_ID(0);
    int groups = cols / m;
    idx_t vbase = (idx_t)o * groups * n;
    GLOBAL const uchar* idx = index + (idx_t)o * index_stride;
    uint field_mask = (1u << bits) - 1u;
    for (int r = 0; r < rows; r++)
    {
        GLOBAL const float* xr = x + (idx_t)r * cols;
        float acc = 0.0f;
        for (int g = LOCAL_ID(0); g < groups; g += LOCAL_SIZE(0))
        {
            for (int j = 0; j < n; j++)
            {
                int k = g * n + j;
                int bit = k * bits;
                int b = bit >> 3;
                uint word = idx[b];
                if (b + 1 < index_stride)
                {
                    word |= ((uint)idx[b + 1]) << 8;
                }
                int c = g * m + (int)((word >> (bit & 7)) & field_mask);
                acc += xr[c] * load_weight(values, vbase + k, dtype);
            }
        }
        acc = group_sum(scratch, acc);
        if (LOCAL_ID(0) == 0)
        {
            y[(idx_t)r * outs + o] = acc;
        }
    }
}

/* Bitmask: per row of W, ceil(cols/32) mask words (bit j of word w marks column 32w + j) and, per word, the index in
 * `values` of its first stored value, so that threads can take words independently. */
DEVICE_FN void spmm_bitmask(GLOBAL const float* x, GLOBAL const void* values, GLOBAL const uint* mask,
    GLOBAL const uint* starts, GLOBAL float* y, int rows, int outs, int cols, int dtype, LOCAL float* scratch)
{
    int o = GROUP_ID(0);
    int words = (cols + 31) / 32;
    idx_t wbase = (idx_t)o * words;
    for (int r = 0; r < rows; r++)
    {
        GLOBAL const float* xr = x + (idx_t)r * cols;
        float acc = 0.0f;
        for (int w = LOCAL_ID(0); w < words; w += LOCAL_SIZE(0))
        {
            uint left = mask[wbase + w];
            idx_t v = (idx_t)starts[wbase + w];
            while (left != 0u)
            {
                int j = 31 - (int)CLZ32(left & (0u - left));   /* lowest set bit */
                acc += xr[w * 32 + j] * load_weight(values, v, dtype);
                v++;
                left &= left - 1u;
            }
        }
        acc = group_sum(scratch, acc);
        if (LOCAL_ID(0) == 0)
        {
            y[(idx_t)r * outs + o] = acc;
        }
    }
}

KERNEL void spmm_nm_f32(GLOBAL const float* x, GLOBAL const float* values, GLOBAL const uchar* index, GLOBAL float* y,
    int rows, int outs, int cols, int n, int m, int bits, int index_stride)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    spmm_nm(x, values, index, y, rows, outs, cols, n, m, bits, index_stride, W_F32, scratch);
}

KERNEL void spmm_nm_bf16(GLOBAL const float* x, GLOBAL const bf16_t* values, GLOBAL const uchar* index, GLOBAL float* y,
    int rows, int outs, int cols, int n, int m, int bits, int index_stride)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    spmm_nm(x, values, index, y, rows, outs, cols, n, m, bits, index_stride, W_BF16, scratch);
}

KERNEL void spmm_bitmask_f32(GLOBAL const float* x, GLOBAL const float* values, GLOBAL const uint* mask,
    GLOBAL const uint* starts, GLOBAL float* y, int rows, int outs, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    spmm_bitmask(x, values, mask, starts, y, rows, outs, cols, W_F32, scratch);
}

KERNEL void spmm_bitmask_bf16(GLOBAL const float* x, GLOBAL const bf16_t* values, GLOBAL const uint* mask,
    GLOBAL const uint* starts, GLOBAL float* y, int rows, int outs, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    spmm_bitmask(x, values, mask, starts, y, rows, outs, cols, W_BF16, scratch);
}
