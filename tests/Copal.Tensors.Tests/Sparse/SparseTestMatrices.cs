using Copal.Testing;

namespace Copal.Tensors.Tests.Sparse;

/// <summary>Random pruned matrices in F32, BF16 or F16 and the scalar dense reference product.</summary>
internal static class SparseTestMatrices
{
    /// <summary>A dense matrix with each weight zeroed with probability <paramref name="sparsity"/>, as raw F32, BF16 or F16 bits.</summary>
    public static byte[] Unstructured(Random rnd, DType dtype, int rows, int cols, double sparsity)
    {
        float[] dense = new float[rows * cols];
        for (int i = 0; i < dense.Length; i++)
        {
            dense[i] = rnd.NextDouble() < sparsity ? 0f : (float)(rnd.NextDouble() * 2 - 1);
        }
        return Store(dense, dtype);
    }

    /// <summary>A dense matrix where every group of m columns keeps at most n nonzeros (sometimes fewer).</summary>
    public static byte[] NM(Random rnd, DType dtype, int rows, int cols, int n, int m)
    {
        float[] dense = new float[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < cols; g += m)
            {
                int keep = rnd.Next(4) == 0 ? rnd.Next(n + 1) : n;
                foreach (int j in Enumerable.Range(0, m).OrderBy(_ => rnd.Next()).Take(keep))
                {
                    // Kept values may themselves be zero: the format must carry them.
                    dense[r * cols + g + j] = rnd.Next(16) == 0 ? 0f : (float)(rnd.NextDouble() * 2 - 1);
                }
            }
        }
        return Store(dense, dtype);
    }

    public static float[] Input(Random rnd, int count)
    {
        float[] x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (float)(rnd.NextDouble() * 2 - 1);
        }
        return x;
    }

    /// <summary>The raw stored values widened to f32 (BF16 and F16 exactly).</summary>
    public static float[] Widen(byte[] raw, DType dtype)
    {
        if (dtype == DType.F32)
        {
            return MemoryMarshalCast<float>(raw);
        }
        ushort[] bits = MemoryMarshalCast<ushort>(raw);
        return dtype == DType.F16
            ? bits.Select(b => (float)BitConverter.UInt16BitsToHalf(b)).ToArray()
            : bits.Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray();
    }

    /// <summary>y[i, r] = Σ_c W[r, c]·x[i, c] in double; also returns the largest Σ|W·x| to scale the absolute tolerance.</summary>
    public static (float[] Y, double Scale) Reference(float[] w, int outs, int cols, float[] x, int rows)
    {
        float[] y = new float[rows * outs];
        double scale = 1;
        for (int i = 0; i < rows; i++)
        {
            for (int r = 0; r < outs; r++)
            {
                double s = 0, a = 0;
                for (int c = 0; c < cols; c++)
                {
                    double p = (double)w[r * cols + c] * x[i * cols + c];
                    s += p;
                    a += Math.Abs(p);
                }
                y[i * outs + r] = (float)s;
                scale = Math.Max(scale, a);
            }
        }
        return (y, scale);
    }

    /// <summary>Asserts the sparse result equals the dense reference within the kernel tolerance.</summary>
    public static void AssertMatches(float[] actual, (float[] Y, double Scale) expected, string what)
        => Tolerances.AssertClose(actual, expected.Y, Tolerances.KernelRelative, Tolerances.KernelAbsolute * expected.Scale, what);

    private static byte[] Store(float[] dense, DType dtype)
    {
        if (dtype == DType.F32)
        {
            return System.Runtime.InteropServices.MemoryMarshal.AsBytes(dense.AsSpan()).ToArray();
        }
        ushort[] bits = new ushort[dense.Length];
        for (int i = 0; i < dense.Length; i++)
        {
            bits[i] = dtype == DType.F16
                ? BitConverter.HalfToUInt16Bits((Half)dense[i])
                : (ushort)(BitConverter.SingleToUInt32Bits(dense[i]) >> 16);
        }
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
    }

    private static T[] MemoryMarshalCast<T>(byte[] raw) where T : struct
        => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(raw).ToArray();
}
