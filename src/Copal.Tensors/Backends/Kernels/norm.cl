/* Row-wise reductions: one work-group of GROUP_SIZE threads per row. */

/* y = x / sqrt(mean(x^2) + eps) * weight; y may alias x. */
KERNEL void rms_norm(GLOBAL const float* x, GLOBAL const float* weight, GLOBAL float* y, int dim, float eps)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    idx_t base = (idx_t)GROUP_ID(0) * dim;
    float squares = 0.0f;
    for (int d = LOCAL_ID(0); d < dim; d += LOCAL_SIZE(0))
    {
        float v = x[base + d];
        squares += v * v;
    }
    squares = group_sum(scratch, squares);
    float inv = 1.0f / SQRT(squares / (float)dim + eps);
    for (int d = LOCAL_ID(0); d < dim; d += LOCAL_SIZE(0))
    {
        y[base + d] = x[base + d] * inv * weight[d];
    }
}

/* In place; subtracting the row maximum keeps exp from overflowing. */
KERNEL void softmax(GLOBAL float* x, int cols)
{
    LOCAL_ARRAY float scratch[GROUP_SIZE];
    idx_t base = (idx_t)GROUP_ID(0) * cols;
    float m = -3.402823466e+38f;
    for (int c = LOCAL_ID(0); c < cols; c += LOCAL_SIZE(0))
    {
        m = FMAX(m, x[base + c]);
    }
    m = group_max(scratch, m);
    float sum = 0.0f;
    for (int c = LOCAL_ID(0); c < cols; c += LOCAL_SIZE(0))
    {
        float e = EXP(x[base + c] - m);
        x[base + c] = e;
        sum += e;
    }
    sum = group_sum(scratch, sum);
    float inv = 1.0f / sum;
    for (int c = LOCAL_ID(0); c < cols; c += LOCAL_SIZE(0))
    {
        x[base + c] *= inv;
    }
}
