using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>Row-wise reductions: a group per row (grid-stride over rows), summed with a group reduction (<see cref="GroupReductions"/>).</summary>
internal static class NormKernels
{
    /// <summary>y = x / sqrt(mean(x²) + eps) · weight; y may alias x.</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int rows, int dim, float eps) =>
        Norm(x, default, addDelta: false, weight, y, rows, dim, eps);

    /// <summary>
    /// x += delta, then y = RmsNorm(x) (<see cref="IBackend.AddRmsNorm"/>): the residual add's result is normalized as
    /// it is written, one launch where there were two. y aliases neither x nor delta (checked on the host).
    /// </summary>
    public static void AddRmsNorm(ArrayView<float> x, ArrayView<float> delta, ArrayView<float> weight, ArrayView<float> y, int rows, int dim, float eps) =>
        Norm(x, delta, addDelta: true, weight, y, rows, dim, eps);

    private static void Norm(ArrayView<float> x, ArrayView<float> delta, bool addDelta, ArrayView<float> weight, ArrayView<float> y, int rows, int dim, float eps)
    {
        if ((dim & 3) == 0)
        {
            NormQuads(x, delta, addDelta, weight, y, rows, dim, eps);
            return;
        }
        // A width that is not a multiple of 4 (no LLaMA-family model's): one element a thread per pass.
        int thread = Group.IdxX, groupSize = Group.DimX;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long rowBase = (long)row * dim;
            float squares = 0f;
            for (int d = thread; d < dim; d += groupSize)
            {
                float v = x[rowBase + d];
                if (addDelta)
                {
                    v += delta[rowBase + d];
                    x[rowBase + d] = v;
                }
                squares += v * v;
            }
            squares = GroupReductions.Sum(squares, groupSize);
            float inv = 1f / XMath.Sqrt((squares / dim) + eps);
            // Each thread reads back only the elements it wrote above.
            for (int d = thread; d < dim; d += groupSize)
            {
                y[rowBase + d] = x[rowBase + d] * inv * weight[d];
            }
            // The next row's reduction reuses the group's shared scratch.
            Group.Barrier();
        }
    }

    /// <summary>
    /// <see cref="Norm"/> where dim is a multiple of 4 (every LLaMA width), in 16-byte quads: the views are whole
    /// buffers, so every row starts on 16 bytes. A decode step has one row, so one group reads the whole vector and
    /// its time is memory latency: a thread issues four quads (and four of delta) before it uses any, so a
    /// 4,096-wide row is one round of loads, then one more for the read-back and the weight. With one float a load
    /// it took 16 rounds (25 µs of an H200's 6.6 ms 7B token, 63 times a token), four at a time 8 rounds (9 µs), in
    /// quads 7 µs (0.44 ms a token; what is left is mostly the launch and the group reduction).
    /// </summary>
    private static void NormQuads(ArrayView<float> x, ArrayView<float> delta, bool addDelta, ArrayView<float> weight, ArrayView<float> y, int rows, int dim, float eps)
    {
        int thread = Group.IdxX, groupSize = Group.DimX, quads = dim >> 2, stride = 4 * groupSize;
        ArrayView<Quad> x4 = x.Cast<Quad>(), y4 = y.Cast<Quad>(), w4 = weight.Cast<Quad>();
        ArrayView<Quad> d4 = addDelta ? delta.Cast<Quad>() : default;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long rowBase = (long)row * quads;
            float squares = 0f;
            int u = thread;
            for (; u + (3 * groupSize) < quads; u += stride)
            {
                long i = rowBase + u;
                Quad v0 = x4[i], v1 = x4[i + groupSize], v2 = x4[i + (2 * groupSize)], v3 = x4[i + (3 * groupSize)];
                if (addDelta)
                {
                    v0 = Add(v0, d4[i]);
                    v1 = Add(v1, d4[i + groupSize]);
                    v2 = Add(v2, d4[i + (2 * groupSize)]);
                    v3 = Add(v3, d4[i + (3 * groupSize)]);
                    x4[i] = v0;
                    x4[i + groupSize] = v1;
                    x4[i + (2 * groupSize)] = v2;
                    x4[i + (3 * groupSize)] = v3;
                }
                squares += (Squares(v0) + Squares(v1)) + (Squares(v2) + Squares(v3));
            }
            for (; u < quads; u += groupSize)
            {
                Quad v = x4[rowBase + u];
                if (addDelta)
                {
                    v = Add(v, d4[rowBase + u]);
                    x4[rowBase + u] = v;
                }
                squares += Squares(v);
            }
            squares = GroupReductions.Sum(squares, groupSize);
            float inv = 1f / XMath.Sqrt((squares / dim) + eps);
            // Each thread reads back only the quads it wrote above.
            u = thread;
            for (; u + (3 * groupSize) < quads; u += stride)
            {
                long i = rowBase + u;
                Quad v0 = x4[i], v1 = x4[i + groupSize], v2 = x4[i + (2 * groupSize)], v3 = x4[i + (3 * groupSize)];
                Quad w0 = w4[u], w1 = w4[u + groupSize], w2 = w4[u + (2 * groupSize)], w3 = w4[u + (3 * groupSize)];
                y4[i] = Scaled(v0, inv, w0);
                y4[i + groupSize] = Scaled(v1, inv, w1);
                y4[i + (2 * groupSize)] = Scaled(v2, inv, w2);
                y4[i + (3 * groupSize)] = Scaled(v3, inv, w3);
            }
            for (; u < quads; u += groupSize)
            {
                y4[rowBase + u] = Scaled(x4[rowBase + u], inv, w4[u]);
            }
            // The next row's reduction reuses the group's shared scratch.
            Group.Barrier();
        }
    }

    private static Quad Add(Quad a, Quad b) => new() { X = a.X + b.X, Y = a.Y + b.Y, Z = a.Z + b.Z, W = a.W + b.W };

    private static float Squares(Quad v) => (v.X * v.X) + (v.Y * v.Y) + (v.Z * v.Z) + (v.W * v.W);

    /// <summary>v · inv · w elementwise, in the order the scalar path multiplies.</summary>
    private static Quad Scaled(Quad v, float inv, Quad w) =>
        new() { X = v.X * inv * w.X, Y = v.Y * inv * w.Y, Z = v.Z * inv * w.Z, W = v.W * inv * w.W };

    /// <summary>Softmax in place; subtracting the row maximum keeps exp from overflowing.</summary>
    public static void Softmax(ArrayView<float> x, int rows, int cols)
    {
        int thread = Group.IdxX, groupSize = Group.DimX;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long rowBase = (long)row * cols;
            float max = float.MinValue;
            for (int c = thread; c < cols; c += groupSize)
            {
                max = XMath.Max(max, x[rowBase + c]);
            }
            max = GroupReductions.Max(max, groupSize);
            float sum = 0f;
            for (int c = thread; c < cols; c += groupSize)
            {
                float e = XMath.Exp(x[rowBase + c] - max);
                x[rowBase + c] = e;
                sum += e;
            }
            sum = GroupReductions.Sum(sum, groupSize);
            float inv = 1f / sum;
            for (int c = thread; c < cols; c += groupSize)
            {
                x[rowBase + c] *= inv;
            }
            Group.Barrier();
        }
    }
}
