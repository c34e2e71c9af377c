/* Rotary embedding in place, Hugging Face rotate-half layout: element i of a head pairs with i + headDim/2.
 * (a, b) -> (a cos - b sin, b cos + a sin) with the tables [positions, headDim/2] at position startPos + row.
 * One thread per pair. */
KERNEL void rope(GLOBAL float* x, GLOBAL const float* cosTable, GLOBAL const float* sinTable, int rows, int heads,
    int headDim, int startPos)
{
    int halfDim = headDim / 2;
    int i = GLOBAL_ID(0);
    if (i >= rows * heads * halfDim)
    {
        return;
    }
    int pair = i % halfDim;
    int rowHead = i / halfDim;
    int row = rowHead / heads;
    idx_t base = (idx_t)rowHead * headDim;
    idx_t table = (idx_t)(startPos + row) * halfDim + pair;
    float c = cosTable[table];
    float s = sinTable[table];
    float a = x[base + pair];
    float b = x[base + pair + halfDim];
    x[base + pair] = a * c - b * s;
    x[base + pair + halfDim] = b * c + a * s;
}
