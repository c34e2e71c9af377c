using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>One thread per element (ILGPU's auto-grouped launches cover exactly the index range).</summary>
internal static class ElementwiseKernels
{
    public static void AddBias(Index1D i, ArrayView<float> y, ArrayView<float> bias, int cols) => y[i] += bias[i % cols];

    /// <summary>silu(g)·u = g / (1 + e^-g) · u; out may alias gate or up (each thread reads its element first).</summary>
    public static void SiluMul(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output) =>
        output[i] = SiluTimes(gate[i], up[i]);

    /// <summary>silu(g) · u, the one formula of <see cref="SiluMul"/> and the fused gate GEMV.</summary>
    internal static float SiluTimes(float g, float u) => g / (1f + XMath.Exp(-g)) * u;

    /// <summary>
    /// gelu_tanh(g)·u in <see cref="Copal.Tensors.Kernels.GeluTanhMul"/>'s one-exponential form, g / (1 + e^(−2z)) · u;
    /// out may alias gate or up (each thread reads its element first).
    /// </summary>
    public static void GeluTanhMul(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output)
    {
        float g = gate[i];
        float inner = g + (Copal.Tensors.Kernels.GeluTanhMul.Cubic * g * g * g);
        output[i] = g / (1f + XMath.Exp(-Copal.Tensors.Kernels.GeluTanhMul.TwoSqrtTwoOverPi * inner)) * up[i];
    }

    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> output) => output[i] = a[i] + b[i];

    public static void Scale(Index1D i, ArrayView<float> x, float factor) => x[i] *= factor;

    /// <summary>output[t, d] = table[tokens[t], d] as f32; token ids were checked on the host.</summary>
    public static void Embedding<TW>(Index1D i, TW table, ArrayView<int> tokens, ArrayView<float> output, int dim)
        where TW : struct, IWeightView
    {
        int t = i / dim;
        int d = i - (t * dim);
        output[i] = table.Load(((long)tokens[t] * dim) + d);
    }

    /// <summary>
    /// Rotary embedding in place, Hugging Face rotate-half layout over a head's first rotaryDim elements: element
    /// p &lt; rotaryDim/2 pairs with p + rotaryDim/2, (a, b) → (a·cos − b·sin, b·cos + a·sin) at position
    /// startPos + row; the rest of the head is left alone. One thread per pair.
    /// </summary>
    public static void Rope(Index1D i, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int rotaryDim, int startPos) =>
        RotatePair(i, x, cos, sin, heads, headDim, rotaryDim, startPos);

    /// <summary>
    /// A layer's attention inputs in one launch (<see cref="IBackend.RopeAndStore"/>) for <paramref name="rows"/> rows.
    /// Threads [0, qPairs) rotate q's pairs; the next kPairs threads rotate k's and write both elements to kCache
    /// too; the next kPass threads copy the elements of k past rotaryDim (none unless RoPE turns part of each head)
    /// to kCache; the rest copy v's elements into vCache. The rows are rotated at positions startPos.., and k or v
    /// element e goes to cacheRow · kvDim + e (cacheRow = startPos, or less where a sliding-window cache has dropped
    /// its first positions).
    /// </summary>
    public static void RopeAndStore(Index1D i, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> cos, ArrayView<float> sin,
        ArrayView<float> kCache, ArrayView<float> vCache, int rows, int heads, int kvHeads, int headDim, int rotaryDim, int startPos, int cacheRow)
    {
        long cacheBase = (long)cacheRow * kvHeads * headDim;
        int half = rotaryDim / 2, pass = headDim - rotaryDim;
        int qPairs = rows * heads * half, kPairs = rows * kvHeads * half, kPass = rows * kvHeads * pass;
        if (i < qPairs)
        {
            RotatePair(i, q, cos, sin, heads, headDim, rotaryDim, startPos);
        }
        else if (i < qPairs + kPairs)
        {
            long a = RotatePair(i - qPairs, k, cos, sin, kvHeads, headDim, rotaryDim, startPos), b = a + half;
            kCache[cacheBase + a] = k[a];
            kCache[cacheBase + b] = k[b];
        }
        else if (i < qPairs + kPairs + kPass)
        {
            int p = i - qPairs - kPairs;
            long e = ((long)(p / pass) * headDim) + rotaryDim + (p % pass);
            kCache[cacheBase + e] = k[e];
        }
        else
        {
            int e = i - qPairs - kPairs - kPass;
            vCache[cacheBase + e] = v[e];
        }
    }

    /// <summary>Rotates pair <paramref name="pairIndex"/> of x (rows × heads × rotaryDim/2 pairs) in place; returns its first element's index.</summary>
    private static long RotatePair(int pairIndex, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int rotaryDim, int startPos)
    {
        int half = rotaryDim / 2;
        int pair = pairIndex % half;
        int rowHead = pairIndex / half;
        int row = rowHead / heads;
        long first = ((long)rowHead * headDim) + pair;
        long table = ((long)(startPos + row) * half) + pair;
        float c = cos[table], s = sin[table];
        float a = x[first], b = x[first + half];
        x[first] = (a * c) - (b * s);
        x[first + half] = (b * c) + (a * s);
        return first;
    }
}
