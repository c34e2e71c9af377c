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
