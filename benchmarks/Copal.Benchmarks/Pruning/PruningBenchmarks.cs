using BenchmarkDotNet.Attributes;
using Copal.Prune;

namespace Copal.Benchmarks.Pruning;

/// <summary>
/// One layer pruned by SparseGPT (TinyLlama-like shapes: q/o 2048×2048, gate/up 5632×2048) and by Wanda
/// (LLaMA-7B up_proj 11008×4096 seen from the input side: [4096 out, 11008 in] as the benchmark names it),
/// at 50% unstructured. Random weights and inputs; the time is per layer, including the Hessian factorization.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class PruningBenchmarks
{
    private float[] _weight = [];
    private float[] _work = [];
    private InputStatistics _stats = null!;

    [Params("sparsegpt 2048x2048", "sparsegpt 5632x2048", "wanda 4096x11008")]
    public string Layer { get; set; } = "";

    private (string Method, int Rows, int Cols) Shape
    {
        get
        {
            string[] parts = Layer.Split(' ');
            string[] dims = parts[1].Split('x');
            return (parts[0], int.Parse(dims[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(dims[1], System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        (string method, int rows, int cols) = Shape;
        var rng = new Random(0);
        _weight = new float[rows * cols];
        for (int i = 0; i < _weight.Length; i++)
        {
            _weight[i] = (float)(rng.NextDouble() - 0.5);
        }
        _work = new float[_weight.Length];
        bool hessian = method == "sparsegpt";
        _stats = new InputStatistics(cols, hessian);
        // A well-conditioned synthetic Hessian: diagonal mean squares plus a small dense part.
        var squares = new float[cols];
        for (int j = 0; j < cols; j++)
        {
            squares[j] = (float)(0.5 + rng.NextDouble());
        }
        float[] gram = [];
        if (hessian)
        {
            gram = new float[(long)cols * cols];
            for (int i = 0; i < cols; i++)
            {
                gram[(long)i * cols + i] = squares[i] * cols;
                for (int j = 0; j < i; j++)
                {
                    float v = (float)(rng.NextDouble() - 0.5);
                    gram[(long)i * cols + j] = v;
                    gram[(long)j * cols + i] = v;
                }
            }
        }
        _stats.AddSequence(squares, gram, cols);
    }

    [IterationSetup]
    public void Reset() => _weight.CopyTo(_work, 0);

    [Benchmark]
    public long PruneLayer()
    {
        (string method, int rows, int cols) = Shape;
        IPruningMethod pruner = method == "sparsegpt" ? new SparseGptPruner() : new WandaPruner();
        return pruner.Prune(_work, rows, cols, _stats, new SparsityPattern.Unstructured(0.5)).Zeros;
    }
}
