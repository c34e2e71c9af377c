/* out[t, :] = table[tokens[t], :] as float; one thread per output element. Token ids are checked on the host. */

DEVICE_FN void gather_rows(GLOBAL const void* table, GLOBAL const int* tokens, GLOBAL float* out, int count, int dim,
    int dtype)
{
    int i = GLOBAL_ID(0);
    if (i < count * dim)
    {
        int t = i / dim;
        int d = i - t * dim;
        out[i] = load_weight(table, (idx_t)tokens[t] * dim + d, dtype);
    }
}

KERNEL void embedding_f32(GLOBAL const float* table, GLOBAL const int* tokens, GLOBAL float* out, int count, int dim)
{
    gather_rows(table, tokens, out, count, dim, W_F32);
}

KERNEL void embedding_f16(GLOBAL const half_t* table, GLOBAL const int* tokens, GLOBAL float* out, int count, int dim)
{
    gather_rows(table, tokens, out, count, dim, W_F16);
}

KERNEL void embedding_bf16(GLOBAL const bf16_t* table, GLOBAL const int* tokens, GLOBAL float* out, int count, int dim)
{
    gather_rows(table, tokens, out, count, dim, W_BF16);
}
