/* Calibration statistics for pruning: accumulate into existing sums. */

#define GRAM_TILE 16

/* gram[i, j] += sum_r x[r, i] x[r, j]. A GRAM_TILE x GRAM_TILE work-group owns one block of gram; rows of x are
 * staged in local memory GRAM_TILE at a time, each load reading consecutive columns. */
KERNEL void gram_accumulate(GLOBAL const float* x, GLOBAL float* gram, int rows, int cols)
{
    LOCAL_ARRAY float a[GRAM_TILE * GRAM_TILE];
    LOCAL_ARRAY float b[GRAM_TILE * GRAM_TILE];
    int lx = LOCAL_ID(0);
    int ly = LOCAL_ID(1);
    int j0 = GROUP_ID(0) * GRAM_TILE;
    int i0 = GROUP_ID(1) * GRAM_TILE;
    float acc = 0.0f;
    for (int r0 = 0; r0 < rows; r0 += GRAM_TILE)
    {
        int r = r0 + ly;
        a[ly * GRAM_TILE + lx] = (r < rows && i0 + lx < cols) ? x[(idx_t)r * cols + i0 + lx] : 0.0f;
        b[ly * GRAM_TILE + lx] = (r < rows && j0 + lx < cols) ? x[(idx_t)r * cols + j0 + lx] : 0.0f;
        BARRIER();
        for (int k = 0; k < GRAM_TILE; k++)
        {
            acc += a[k * GRAM_TILE + ly] * b[k * GRAM_TILE + lx];
        }
        BARRIER();
    }
    int i = i0 + ly;
    int j = j0 + lx;
    if (i < cols && j < cols)
    {
        gram[(idx_t)i * cols + j] += acc;
    }
}

/* sums[c] += sum_r x[r, c]^2; one thread per column, neighbouring threads read neighbouring columns. */
KERNEL void column_squares(GLOBAL const float* x, GLOBAL float* sums, int rows, int cols)
{
    int c = GLOBAL_ID(0);
    if (c >= cols)
    {
        return;
    }
    float acc = 0.0f;
    for (int r = 0; r < rows; r++)
    {
        float v = x[(idx_t)r * cols + c];
        acc += v * v;
    }
    sums[c] += acc;
}
