using BenchmarkDotNet.Attributes;
using Copal.Prune;
using Copal.Prune.Continual;
using Copal.Prune.Numerics;

namespace Copal.Benchmarks.Pruning;

/// <summary>
/// COPAL's dense-target move W ← W + s·W·K·(H + λI)⁻¹ for one linear [Cols, Cols] (q_proj's shape at TinyLlama's width
/// 2048): three passes of rows·cols² multiply-adds, in f64, over K and U (32 MiB each).
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class DenseTargetShiftBenchmarks
{
    private float[] _weight = [];
    private float[] _work = [];
    private double[] _shift = [];
    private SweepFactor _factor = null!;

    [Params(2048)]
    public int Cols { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        int n = Cols;
        double[] h = TestHessian.Create(n, rng);
        _shift = new double[(long)n * n];
        for (long i = 0; i < _shift.LongLength; i++)
        {
            _shift[i] = (rng.NextDouble() - 0.5) * 0.1;
        }
        _factor = SweepFactor.Compute(h, n, new SparseGptOptions(), CancellationToken.None);
        _weight = [.. Enumerable.Range(0, n * n).Select(_ => (float)(rng.NextDouble() - 0.5))];
        _work = new float[_weight.Length];
    }

    [IterationSetup]
    public void Reset() => _weight.CopyTo(_work, 0);

    [Benchmark]
    public float Move()
    {
        DenseTargetShift.Apply(_work, Cols, Cols, _factor, _shift, 0.5, CancellationToken.None);
        return _work[0];
    }
}
