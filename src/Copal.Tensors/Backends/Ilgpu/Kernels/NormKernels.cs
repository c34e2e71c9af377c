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
        int thread = Group.IdxX, groupSize = Group.DimX;
        // Four elements a thread per pass, their loads issued before any is used: a decode step has one row, so one
        // group reads the whole vector, and one load in flight a thread at a time left a 4,096-wide norm waiting on
        // memory 16 times (25 µs of an H200's 6.6 ms 7B token, 63 times a token).
        int stride = 4 * groupSize;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long rowBase = (long)row * dim;
            float squares = 0f;
            int d = thread;
            for (; d + (3 * groupSize) < dim; d += stride)
            {
                long i = rowBase + d;
                float v0 = x[i], v1 = x[i + groupSize], v2 = x[i + (2 * groupSize)], v3 = x[i + (3 * groupSize)];
                if (addDelta)
                {
                    v0 += delta[i];
                    v1 += delta[i + groupSize];
                    v2 += delta[i + (2 * groupSize)];
                    v3 += delta[i + (3 * groupSize)];
                    x[i] = v0;
                    x[i + groupSize] = v1;
                    x[i + (2 * groupSize)] = v2;
                    x[i + (3 * groupSize)] = v3;
                }
                squares += (v0 * v0) + (v1 * v1) + (v2 * v2) + (v3 * v3);
            }
            for (; d < dim; d += groupSize)
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
            d = thread;
            for (; d + (3 * groupSize) < dim; d += stride)
            {
                long i = rowBase + d;
                float v0 = x[i], v1 = x[i + groupSize], v2 = x[i + (2 * groupSize)], v3 = x[i + (3 * groupSize)];
                float w0 = weight[d], w1 = weight[d + groupSize], w2 = weight[d + (2 * groupSize)], w3 = weight[d + (3 * groupSize)];
                y[i] = v0 * inv * w0;
                y[i + groupSize] = v1 * inv * w1;
                y[i + (2 * groupSize)] = v2 * inv * w2;
                y[i + (3 * groupSize)] = v3 * inv * w3;
            }
            for (; d < dim; d += groupSize)
            {
                y[rowBase + d] = x[rowBase + d] * inv * weight[d];
            }
            // The next row's reduction reuses the group's shared scratch.
            Group.Barrier();
        }
    }

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
