using BenchmarkDotNet.Attributes;
using Copal.Prune;
using Copal.Prune.Numerics;

namespace Copal.Benchmarks.Pruning;

/// <summary>SparseGPT's O(cols³) step alone: U, the upper Cholesky factor of (H + λI)⁻¹, for the LLaMA input widths 2048 and 5632.</summary>
[SimpleJob(launchCount: 1, warmupCount: 0, iterationCount: 2)]
public class InverseHessianBenchmarks
{
    private double[] _h = [];
    private double[] _work = [];

    [Params(2048, 5632)]
    public int Cols { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _h = TestHessian.Create(Cols, new Random(1));
        _work = new double[_h.Length];
    }

    [IterationSetup]
    public void Reset() => _h.CopyTo(_work, 0);

    /// <summary>2/3·n³ flops: the Cholesky factor of the reversed H and its triangular inverse, each n³/3.</summary>
    [Benchmark]
    public double Factor() => InverseHessianFactor.Compute(_work, Cols, new SparseGptOptions(), CancellationToken.None).U[0];
}
