/* Shared helpers: work-group reductions and weight loads. Included once, before the other kernel files. */

/* Work-group size of every 1-D reduction kernel (rms_norm, softmax, gemv). A power of two. */
#define GROUP_SIZE 256

/* Stored dtypes of weights; the same numbers as the host's WeightDType codes. */
#define W_F32 0
#define W_F16 1
#define W_BF16 2

/* Sum of v over a 1-D work-group whose size is a power of two; every thread gets the result.
 * scratch holds LOCAL_SIZE(0) floats and may be reused right after the call. */
DEVICE_FN float group_sum(LOCAL float* scratch, float v)
{
    int t = LOCAL_ID(0);
    scratch[t] = v;
    BARRIER();
    for (int s = LOCAL_SIZE(0) / 2; s > 0; s >>= 1)
    {
        if (t < s)
        {
            scratch[t] += scratch[t + s];
        }
        BARRIER();
    }
    float result = scratch[0];
    BARRIER();
    return result;
}

/* Maximum of v over a 1-D work-group whose size is a power of two; every thread gets the result. */
DEVICE_FN float group_max(LOCAL float* scratch, float v)
{
    int t = LOCAL_ID(0);
    scratch[t] = v;
    BARRIER();
    for (int s = LOCAL_SIZE(0) / 2; s > 0; s >>= 1)
    {
        if (t < s)
        {
            scratch[t] = FMAX(scratch[t], scratch[t + s]);
        }
        BARRIER();
    }
    float result = scratch[0];
    BARRIER();
    return result;
}

/* Element i of a weight stored as dtype, as float. dtype is a literal at every call site, so after inlining the
 * branches fold away and each kernel keeps one load path. */
DEVICE_FN float load_weight(GLOBAL const void* w, idx_t i, int dtype)
{
    if (dtype == W_F16)
    {
        return LOAD_HALF((GLOBAL const half_t*)w, i);
    }
    if (dtype == W_BF16)
    {
        return LOAD_BF16((GLOBAL const bf16_t*)w, i);
    }
    return ((GLOBAL const float*)w)[i];
}
