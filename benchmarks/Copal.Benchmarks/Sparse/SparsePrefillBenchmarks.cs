using BenchmarkDotNet.Attributes;
using Copal.Tensors;

namespace Copal.Benchmarks.Sparse;

/// <summary>
/// Prefill GEMM (16 and 128 tokens) on the TinyLlama-1.1B shapes in BF16: dense vs 2:4 vs 50% and 70% unstructured
/// on two threads. Prefill is compute bound, so one copy of the weight suffices. Dense is the production GEMM;
/// GFLOP/s = 2 × tokens × rows × cols / mean time (sparse kernels do not skip zeros, so the count is the same).
/// </summary>
[Config(typeof(SparseBenchConfig))]
public class SparsePrefillBenchmarks : SparseMatMulBenchmarkBase
{
    [Params("2048x5632", "5632x2048", "2048x2048")]
    public string Shape { get; set; } = "2048x2048";

    [Params(16, 128)]
    public int Tokens { get; set; } = 16;

    [Params("dense", "2:4", "u50", "u70")]
    public string Format { get; set; } = "dense";

    [GlobalSetup]
    public void Setup() => Build(Shape, DType.BF16, Format, Tokens, streamBytes: 0);

    [Benchmark]
    public void Gemm() => MultiplyNext();
}
