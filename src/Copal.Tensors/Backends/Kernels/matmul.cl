/* y[rows, outs] = x[rows, cols] . W^T with W [outs, cols] stored as F32, F16 or BF16. */

/* Side of the square GEMM tile; the work-group is TILE x TILE. */
#define TILE 16

/* rows == 1: one work-group per output feature. The group's threads stride over the row of W together, so the
 * row is read once and coalesced; a tree reduction sums the partial dot products. */
DEVICE_FN void gemv_row(GLOBAL const float* x, GLOBAL const void* w, GLOBAL float* y, int cols, int dtype,
    LOCAL float* scratch)
{
    int o = GROUP_ID(0);
    idx_t base = (idx_t)o * cols;
    float acc = 0.0f;
    for (int c = LOCAL_ID(0); c < cols; c += LOCAL_SIZE(0))
    {
        acc += x[c] * load_weight(w, base + c, dtype);
    }
    acc = group_sum(scratch, acc);
    if (LOCAL_ID(0) == 0)
    {
        y[o] = acc;
    }
}

KERNEL void gemv_f32(GLOBAL const float* x, GLOBAL const float* w, GLOBAL float* y, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    gemv_row(x, w, y, cols, W_F32, scratch);
}

KERNEL void gemv_f16(GLOBAL const float* x, GLOBAL const half_t* w, GLOBAL float* y, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    gemv_row(x, w, y, cols, W_F16, scratch);
}

KERNEL void gemv_bf16(GLOBAL const float* x, GLOBAL const bf16_t* w, GLOBAL float* y, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    gemv_row(x, w, y, cols, W_BF16, scratch);
}

/* rows > 1: each TILE x TILE work-group computes a TILE x TILE block of y. Tiles of x and W along the inner
 * dimension are staged in local memory, loaded along cols so that neighbouring threads read neighbouring
 * addresses; W's tile is padded by one column against bank conflicts when read transposed. Thread (lx, ly)
 * owns y[r0 + ly, o0 + lx]. */
DEVICE_FN void gemm_tile(GLOBAL const float* x, GLOBAL const void* w, GLOBAL float* y, int rows, int outs, int cols,
    int dtype, LOCAL float* xs, LOCAL float* ws)
{
    int lx = LOCAL_ID(0);
    int ly = LOCAL_ID(1);
    int o0 = GROUP_ID(0) * TILE;
    int r0 = GROUP_ID(1) * TILE;
    float acc = 0.0f;
    for (int c0 = 0; c0 < cols; c0 += TILE)
    {
        int c = c0 + lx;
        int r = r0 + ly;
        int o = o0 + ly;
        xs[ly * TILE + lx] = (r < rows && c < cols) ? x[(idx_t)r * cols + c] : 0.0f;
        ws[ly * (TILE + 1) + lx] = (o < outs && c < cols) ? load_weight(w, (idx_t)o * cols + c, dtype) : 0.0f;
        BARRIER();
        for (int k = 0; k < TILE; k++)
        {
            acc += xs[ly * TILE + k] * ws[lx * (TILE + 1) + k];
        }
        BARRIER();
    }
    if (r0 + ly < rows && o0 + lx < outs)
    {
        y[(idx_t)(r0 + ly) * outs + o0 + lx] = acc;
    }
}

KERNEL void gemm_f32(GLOBAL const float* x, GLOBAL const float* w, GLOBAL float* y, int rows, int outs, int cols)
{
    LOCAL_ARRAY float xs[TILE * TILE];
    LOCAL_ARRAY float ws[TILE * (TILE + 1)];
    gemm_tile(x, w, y, rows, outs, cols, W_F32, xs, ws);
}

KERNEL void gemm_f16(GLOBAL const float* x, GLOBAL const half_t* w, GLOBAL float* y, int rows, int outs, int cols)
{
    LOCAL_ARRAY float xs[TILE * TILE];
    LOCAL_ARRAY float ws[TILE * (TILE + 1)];
    gemm_tile(x, w, y, rows, outs, cols, W_F16, xs, ws);
}

KERNEL void gemm_bf16(GLOBAL const float* x, GLOBAL const bf16_t* w, GLOBAL float* y, int rows, int outs, int cols)
{
    LOCAL_ARRAY float xs[TILE * TILE];
    LOCAL_ARRAY float ws[TILE * (TILE + 1)];
    gemm_tile(x, w, y, rows, outs, cols, W_BF16, xs, ws);
}
