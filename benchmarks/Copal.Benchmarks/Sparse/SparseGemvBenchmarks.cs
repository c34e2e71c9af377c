using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Copal.Tensors;
using Copal.Tensors.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Benchmarks.Sparse;

/// <summary>
/// Decode GEMV (one token) on LLaMA-7B-like shapes: dense vs 2:4 vs 50% and 70% unstructured, BF16 and F32, on two
/// threads. Each call multiplies by the next of several copies of the weight so that the bytes stream from DRAM, as
/// in a whole model, instead of from the last-level cache. Dense is the production GEMV (<see cref="MatMul"/>), so
/// the ratio is what a model gains. Bytes per weight are printed at setup; GB/s of compressed bytes = bytes per
/// weight × rows × cols / mean time.
/// </summary>
[Config(typeof(SparseBenchConfig))]
public unsafe class SparseGemvBenchmarks
{
    private const int Threads = 2;
    private const long StreamBytes = 256L << 20;

    [Params("2048x5632", "5632x2048", "4096x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(DType.BF16, DType.F32)]
    public DType DType { get; set; }

    [Params("dense", "2:4", "u50", "u70")]
    public string Format { get; set; } = "dense";

    private int _rows, _cols, _next;
    private IntPtr[] _dense = [];
    private CpuSparseWeight[] _sparse = [];
    private float[] _x = [], _y = [];

    [GlobalSetup]
    public void Setup()
    {
        string[] dims = Shape.Split('x');
        _rows = int.Parse(dims[0]);
        _cols = int.Parse(dims[1]);
        long denseBytes = (long)_rows * _cols * DType.SizeOf();
        int copies = (int)Math.Max(2, (StreamBytes + denseBytes - 1) / denseBytes);
        var rnd = new Random(42);
        _x = Enumerable.Range(0, _cols).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        _y = new float[_rows];
        float[] w = new float[(long)_rows * _cols];
        if (Format == "dense")
        {
            _dense = new IntPtr[copies];
            for (int i = 0; i < copies; i++)
            {
                Fill(w, rnd, 0.0);
                _dense[i] = (IntPtr)NativeMemory.AlignedAlloc((nuint)denseBytes, 64);
                Store(w, (byte*)_dense[i]);
            }
            Console.WriteLine($"// {Shape} {DType} dense: {DType.SizeOf():F3} bytes/weight, {copies} copies");
            return;
        }
        _sparse = new CpuSparseWeight[copies];
        byte[] raw = new byte[denseBytes];
        for (int i = 0; i < copies; i++)
        {
            Fill(w, rnd, Format switch { "u50" => 0.5, "u70" => 0.7, _ => -1 });
            fixed (byte* p = raw)
            {
                Store(w, p);
                var view = new TensorView("w", DType, [_rows, _cols], p, denseBytes);
                SparseMatrix m = Format == "2:4" ? NMSparseMatrix.FromTensor(view, 2, 4) : BitmaskSparseMatrix.FromTensor(view);
                _sparse[i] = new CpuSparseWeight(m);
            }
        }
        Console.WriteLine($"// {Shape} {DType} {Format}: {_sparse[0].Matrix.BytesPerWeight:F3} bytes/weight, {copies} copies");
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

    [Benchmark]
    public void Gemv()
    {
        if (Format == "dense")
        {
            var w = new WeightMatrix((void*)_dense[_next++ % _dense.Length], DType, _rows, _cols);
            MatMul.Compute(_x, 1, w, _y, Threads);
            return;
        }
        SparseMatMul.Run(_x, _sparse[_next++ % _sparse.Length], _y, 1, Threads);
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
        if (DType == DType.F32)
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
