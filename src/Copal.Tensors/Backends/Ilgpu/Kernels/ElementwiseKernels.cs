using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>One thread per element (ILGPU's auto-grouped launches cover exactly the index range).</summary>
internal static class ElementwiseKernels
{
    public static void AddBias(Index1D i, ArrayView<float> y, ArrayView<float> bias, int cols) => y[i] += bias[i % cols];

    /// <summary>silu(g)·u = g / (1 + e^-g) · u; out may alias gate or up (each thread reads its element first).</summary>
    public static void SiluMul(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output)
    {
        float g = gate[i];
        output[i] = g / (1f + XMath.Exp(-g)) * up[i];
    }

    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> output) => output[i] = a[i] + b[i];

    /// <summary>output[t, d] = table[tokens[t], d] as f32; token ids were checked on the host.</summary>
    public static void Embedding<TW>(Index1D i, TW table, ArrayView<int> tokens, ArrayView<float> output, int dim)
        where TW : struct, IWeightView
    {
        int t = i / dim;
        int d = i - (t * dim);
        output[i] = table.Load(((long)tokens[t] * dim) + d);
    }

    /// <summary>
    /// Rotary embedding in place, Hugging Face rotate-half layout: element p of a head pairs with p + headDim/2,
    /// (a, b) → (a·cos − b·sin, b·cos + a·sin) at position startPos + row. One thread per pair.
    /// </summary>
    public static void Rope(Index1D i, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int startPos)
    {
        int half = headDim / 2;
        int pair = i % half;
        int rowHead = i / half;
        int row = rowHead / heads;
        long head = (long)rowHead * headDim;
        long table = ((long)(startPos + row) * half) + pair;
        float c = cos[table], s = sin[table];
        float a = x[head + pair], b = x[head + pair + half];
        x[head + pair] = (a * c) - (b * s);
        x[head + pair + half] = (b * c) + (a * s);
    }
}
