using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Copal.Tensors;
using Copal.Tensors.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Benchmarks.Sparse;

/// <summary>Builds dense or compressed copies of one random weight and multiplies by them in turn.</summary>
public abstract unsafe class SparseMatMulBenchmarkBase
{
    private const int Threads = 2;

    private int _rows, _cols, _tokens, _next;
    private DType _dtype;
    private IntPtr[] _dense = [];
    private CpuSparseWeight[] _sparse = [];
    private float[] _x = [], _y = [];

    /// <summary>Enough copies to span <paramref name="streamBytes"/> (at least two; one when it is 0).</summary>
    protected void Build(string shape, DType dtype, string format, int tokens, long streamBytes)
    {
        string[] dims = shape.Split('x');
        _rows = int.Parse(dims[0]);
        _cols = int.Parse(dims[1]);
        _tokens = tokens;
        _dtype = dtype;
        long denseBytes = (long)_rows * _cols * dtype.SizeOf();
        int copies = streamBytes == 0 ? 1 : (int)Math.Max(2, (streamBytes + denseBytes - 1) / denseBytes);
        var rnd = new Random(42);
        _x = Enumerable.Range(0, _cols * tokens).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        _y = new float[_rows * tokens];
        float[] w = new float[(long)_rows * _cols];
        if (format == "dense")
        {
            _dense = new IntPtr[copies];
            for (int i = 0; i < copies; i++)
            {
                Fill(w, rnd, 0.0);
                _dense[i] = (IntPtr)NativeMemory.AlignedAlloc((nuint)denseBytes, 64);
                Store(w, (byte*)_dense[i]);
            }
            Console.WriteLine($"// {shape} {dtype} dense: {dtype.SizeOf():F3} bytes/weight, {copies} copies");
            return;
        }
        _sparse = new CpuSparseWeight[copies];
        byte[] raw = new byte[denseBytes];
        for (int i = 0; i < copies; i++)
        {
            Fill(w, rnd, format switch { "u50" => 0.5, "u70" => 0.7, _ => -1 });
            fixed (byte* p = raw)
            {
                Store(w, p);
                var view = new TensorView("w", dtype, [_rows, _cols], p, denseBytes);
                SparseMatrix m = format == "2:4" ? NMSparseMatrix.FromTensor(view, 2, 4) : BitmaskSparseMatrix.FromTensor(view);
                _sparse[i] = new CpuSparseWeight(m);
            }
        }
        Console.WriteLine($"// {shape} {dtype} {format}: {_sparse[0].Matrix.BytesPerWeight:F3} bytes/weight, {copies} copies");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var p in _dense)
        {
            NativeMemory.AlignedFree((void*)p);
        }
        foreach (var s in _sparse)
        {
            s.Dispose();
        }
    }

    /// <summary>y = x · Wᵀ with the next copy of the weight.</summary>
    protected void MultiplyNext()
    {
        if (_dense.Length > 0)
        {
            // Finite random weights, marked as a model's loader marks the weights it checked.
            var w = new WeightMatrix((void*)_dense[_next++ % _dense.Length], _dtype, _rows, _cols) { FiniteVerified = true };
            MatMul.Compute(_x, _tokens, w, _y, Threads);
            return;
        }
        SparseMatMul.Run(_x, _sparse[_next++ % _sparse.Length], _y, _tokens, Threads);
    }

    /// <summary>Random weights; sparsity &lt; 0 means 2:4 (two of every four zeroed).</summary>
    private static void Fill(float[] w, Random rnd, double sparsity)
    {
        for (long i = 0; i < w.Length; i += 4)
        {
            int drop0 = rnd.Next(4), drop1 = (drop0 + 1 + rnd.Next(3)) % 4;
            for (int j = 0; j < 4; j++)
            {
                bool zero = sparsity < 0 ? j == drop0 || j == drop1 : rnd.NextDouble() < sparsity;
                w[i + j] = zero ? 0f : (float)(rnd.NextDouble() * 2 - 1) + 0.01f;
            }
        }
    }

    private void Store(float[] w, byte* destination)
    {
        if (_dtype == DType.F32)
        {
            MemoryMarshal.AsBytes(w.AsSpan()).CopyTo(new Span<byte>(destination, w.Length * 4));
            return;
        }
        ushort* d = (ushort*)destination;
        for (long i = 0; i < w.Length; i++)
        {
            d[i] = (ushort)(BitConverter.SingleToUInt32Bits(w[i]) >> 16);
        }
    }
}
