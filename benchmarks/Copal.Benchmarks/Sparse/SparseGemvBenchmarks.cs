using BenchmarkDotNet.Attributes;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Sparse;

/// <summary>
/// Decode GEMV (one token) on LLaMA-7B-like shapes: dense vs 2:4 vs 50% and 70% unstructured, BF16 and F32, on two
/// threads. Each call multiplies by the next of several copies of the weight so that the bytes stream from DRAM, as
/// in a whole model, instead of from the last-level cache. Dense is the production GEMV (<see cref="MatMul"/>), so
/// the ratio is what a model gains. Bytes per weight are printed at setup; GB/s of compressed bytes = bytes per
/// weight × rows × cols / mean time.
/// </summary>
[Config(typeof(SparseBenchConfig))]
public class SparseGemvBenchmarks : SparseMatMulBenchmarkBase
{
    [Params("2048x5632", "5632x2048", "4096x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(DType.BF16, DType.F32)]
    public DType DType { get; set; }

    [Params("dense", "2:4", "u50", "u70")]
    public string Format { get; set; } = "dense";

    [GlobalSetup]
    public void Setup() => Build(Shape, DType, Format, tokens: 1, streamBytes: 256L << 20);

    [Benchmark]
    public void Gemv() => MultiplyNext();
}
