/* One thread per element; launches round the thread count up to whole work-groups, hence the bounds checks. */

KERNEL void add_bias(GLOBAL float* y, GLOBAL const float* bias, int rows, int cols)
{
    int i = GLOBAL_ID(0);
    if (i < rows * cols)
    {
        y[i] += bias[i % cols];
    }
}

/* silu(g) * u = g / (1 + e^-g) * u; out may alias gate or up (each thread reads its element before writing). */
KERNEL void silu_mul(GLOBAL const float* gate, GLOBAL const float* up, GLOBAL float* out, int count)
{
    int i = GLOBAL_ID(0);
    if (i < count)
    {
        float g = gate[i];
        out[i] = g / (1.0f + EXP(-g)) * up[i];
    }
}

KERNEL void add(GLOBAL const float* a, GLOBAL const float* b, GLOBAL float* out, int count)
{
    int i = GLOBAL_ID(0);
    if (i < count)
    {
        out[i] = a[i] + b[i];
    }
}

/* Within one buffer, where the drivers' copy commands do not apply; the host rejects overlapping ranges. */
KERNEL void copy_f32(GLOBAL const float* src, int srcOffset, GLOBAL float* dst, int dstOffset, int count)
{
    int i = GLOBAL_ID(0);
    if (i < count)
    {
        dst[dstOffset + i] = src[srcOffset + i];
    }
}
