namespace Copal.Tensors.Tests.Kernels;

/// <summary>Plain scalar references, in double, for every kernel.</summary>
internal static class Reference
{
    /// <summary>y[i, j] = Σ_k x[i, k]·w[j, k].</summary>
    public static float[] MatMul(float[] x, int n, float[] w, int rows, int cols)
    {
        var y = new float[n * rows];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < rows; j++)
            {
                double s = 0;
                for (int k = 0; k < cols; k++)
                {
                    s += (double)x[i * cols + k] * w[j * cols + k];
                }
                y[i * rows + j] = (float)s;
            }
        }
        return y;
    }

    public static float[] RmsNorm(float[] x, float[] w, float eps)
    {
        double ss = 0;
        foreach (float v in x)
        {
            ss += (double)v * v;
        }
        double scale = 1 / Math.Sqrt(ss / x.Length + eps);
        return x.Select((v, i) => (float)(w[i] * (v * scale))).ToArray();
    }

    public static float[] Softmax(float[] x)
    {
        double max = x.Max();
        double[] e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => (float)(v / sum)).ToArray();
    }

    public static float[] SiluMul(float[] g, float[] u) =>
        g.Select((v, i) => (float)(v / (1 + Math.Exp(-(double)v)) * u[i])).ToArray();

    /// <summary>PyTorch's gelu(approximate="tanh") times up, in double, written as PyTorch writes it (with tanh).</summary>
    public static float[] GeluTanhMul(float[] g, float[] u) =>
        g.Select((v, i) => (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * (double)v * v * v))) * u[i])).ToArray();

    /// <summary>RoPE in double over each head's first rotaryDim elements (0: the whole head), the rest left alone.</summary>
    public static void Rope(float[] x, int heads, int headDim, double[] angles, int rotaryDim = 0)
    {
        int half = (rotaryDim > 0 ? rotaryDim : headDim) / 2;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                double a = x[h * headDim + i], b = x[h * headDim + half + i];
                double c = Math.Cos(angles[i]), s = Math.Sin(angles[i]);
                x[h * headDim + i] = (float)(a * c - b * s);
                x[h * headDim + half + i] = (float)(b * c + a * s);
            }
        }
    }

    /// <summary>
    /// Causal attention in double precision with Hugging Face's mask written out: query position p sees key t when
    /// t ≤ p and, with a window W above 0, t &gt; p − W (transformers' sliding_window_overlay); other scores are −∞.
    /// </summary>
    public static float[] Attention(float[] q, float[] k, float[] v, int rows, int startPos, int heads, int kvHeads, int d, float scale, int window = 0)
    {
        var o = new float[rows * heads * d];
        int group = heads / kvHeads, keys = startPos + rows;
        for (int r = 0; r < rows; r++)
        {
            int p = startPos + r;
            for (int h = 0; h < heads; h++)
            {
                int g = h / group;
                var s = new double[keys];
                for (int t = 0; t < keys; t++)
                {
                    bool visible = t <= p && (window == 0 || t > p - window);
                    double dot = 0;
                    for (int i = 0; i < d; i++)
                    {
                        dot += (double)q[(r * heads + h) * d + i] * k[(t * kvHeads + g) * d + i];
                    }
                    s[t] = visible ? dot * scale : double.NegativeInfinity;
                }
                double max = s.Max(), sum = 0;
                for (int t = 0; t < keys; t++)
                {
                    s[t] = Math.Exp(s[t] - max);
                    sum += s[t];
                }
                for (int i = 0; i < d; i++)
                {
                    double acc = 0;
                    for (int t = 0; t < keys; t++)
                    {
                        acc += s[t] / sum * v[(t * kvHeads + g) * d + i];
                    }
                    o[(r * heads + h) * d + i] = (float)acc;
                }
            }
        }
        return o;
    }

    public static float[] Gram(float[] x, int rows, int cols, float[] initial) => Cross(x, x, rows, cols, initial);

    /// <summary>initial + Aᵀ·B in double, each sum rounded once.</summary>
    public static float[] Cross(float[] a, float[] b, int rows, int cols, float[] initial)
    {
        var g = (float[])initial.Clone();
        for (int i = 0; i < cols; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int r = 0; r < rows; r++)
                {
                    s += (double)a[r * cols + i] * b[r * cols + j];
                }
                g[i * cols + j] = (float)(g[i * cols + j] + s);
            }
        }
        return g;
    }

    public static float[] ColumnSquares(float[] x, int rows, int cols, float[] initial)
    {
        var s = (float[])initial.Clone();
        for (int c = 0; c < cols; c++)
        {
            double acc = s[c];
            for (int r = 0; r < rows; r++)
            {
                acc += (double)x[r * cols + c] * x[r * cols + c];
            }
            s[c] = (float)acc;
        }
        return s;
    }
}
