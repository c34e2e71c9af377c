using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Kernels;

/// <summary>Native buffers for one linear-layer shape: a random weight in the chosen dtype, x and y.</summary>
internal sealed unsafe class LinearBuffers : IDisposable
{
    public LinearBuffers(int outFeatures, int inFeatures, int n, DType dtype)
    {
        long count = (long)outFeatures * inFeatures;
        Weight = NativeMemory.AlignedAlloc((nuint)(count * dtype.SizeOf()), 64);
        var random = new Random(1);
        for (long i = 0; i < count; i++)
        {
            float v = (float)(random.NextDouble() - 0.5);
            switch (dtype)
            {
                case DType.F32: ((float*)Weight)[i] = v; break;
                case DType.BF16: ((ushort*)Weight)[i] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16); break;
                default: ((Half*)Weight)[i] = (Half)v; break;
            }
        }
        X = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * inFeatures * sizeof(float)), 64);
        Y = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * outFeatures * sizeof(float)), 64);
        for (long i = 0; i < (long)n * inFeatures; i++)
        {
            X[i] = (float)(random.NextDouble() - 0.5);
        }
        // Finite random weights, marked as a model's loader marks the weights it checked.
        Matrix = new WeightMatrix(Weight, dtype, outFeatures, inFeatures) { FiniteVerified = true };
        N = n;
    }

    public void* Weight { get; }
    public float* X { get; }
    public float* Y { get; }
    public WeightMatrix Matrix { get; }
    public int N { get; }

    public Span<float> XSpan => new(X, N * Matrix.Cols);
    public Span<float> YSpan => new(Y, N * Matrix.Rows);

    /// <summary>Bytes of stored weight one call streams (the GEMV bandwidth numerator).</summary>
    public long WeightBytes => Matrix.ByteLength;

    /// <summary>2·n·out·in.</summary>
    public double Flops => 2.0 * N * Matrix.Rows * Matrix.Cols;

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        NativeMemory.AlignedFree(Weight);
        NativeMemory.AlignedFree(X);
        NativeMemory.AlignedFree(Y);
    }
}
