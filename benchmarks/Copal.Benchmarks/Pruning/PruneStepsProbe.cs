using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Copal.Model.Weights;
using Copal.Prune;
using Copal.Prune.Driver;
using Copal.Prune.Numerics;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Benchmarks.Pruning;

/// <summary>
/// `probe prune-steps sparsegpt|wanda [2:4|0.5] [--nsamples N] [--seqlen T]`: one TinyLlama-1.1B decoder layer's pruning
/// steps, each timed alone, on random activations and weights, printed as one JSON object of seconds with the keys of
/// benchmarks/peers/prune_peer.py, its PyTorch peer. The steps are the driver's own code: the statistics tap on the
/// CPU backend (one Gram per window, folded into the double means), <see cref="SweepFactor"/>, the SparseGPT sweep,
/// the reconstruction error Copal reports beside it, and the Wanda pruner.
/// </summary>
internal static class PruneStepsProbe
{
    // TinyLlama-1.1B: hidden 2048, MLP 5632, 32 query heads over 4 KV heads of 64.
    private static readonly (string Name, int Rows, int Cols)[] s_linears =
    [
        ("q_proj", 2048, 2048), ("k_proj", 256, 2048), ("v_proj", 256, 2048), ("o_proj", 2048, 2048),
        ("gate_proj", 5632, 2048), ("up_proj", 5632, 2048), ("down_proj", 2048, 5632),
    ];

    // The layer's distinct inputs per width, as the driver keeps statistics: q/k/v share one, gate/up one, o and down their own.
    private static readonly Dictionary<int, int> s_inputsPerWidth = new() { [2048] = 3, [5632] = 1 };

    public static void Run(string[] args)
    {
        string method = args.Contains("wanda") ? "wanda" : "sparsegpt";
        string patternText = args.FirstOrDefault(a => a.Contains(':', StringComparison.Ordinal) || a.StartsWith("0.", StringComparison.Ordinal)) ?? "0.5";
        SparsityPattern pattern = SparsityPattern.Parse(patternText);
        int nsamples = Option(args, "--nsamples", 32), seqlen = Option(args, "--seqlen", 512);
        using var backend = new CpuBackend(threads: 2);
        var steps = new Dictionary<string, double>();
        var rng = new Random(1);
        bool hessian = method == "sparsegpt";
        var statistics = new Dictionary<int, InputStatistics>();
        foreach (int cols in s_inputsPerWidth.Keys)
        {
            (statistics[cols], steps[$"{(hessian ? "hessian" : "statistics")} {cols}"]) = Accumulate(backend, cols, nsamples, seqlen, hessian, new Random(0));
        }
        double layer = s_inputsPerWidth.Sum(kv => kv.Value * steps[$"{(hessian ? "hessian" : "statistics")} {kv.Key}"]);
        if (hessian)
        {
            var pruner = new SparseGptPruner();
            var factors = new Dictionary<int, SweepFactor>();
            foreach (int cols in s_inputsPerWidth.Keys)
            {
                var watch = Stopwatch.StartNew();
                factors[cols] = SweepFactor.Compute((double[])statistics[cols].Hessian.Clone(), cols, pruner.Options, CancellationToken.None);
                steps[$"factor {cols}"] = watch.Elapsed.TotalSeconds;
            }
            foreach ((string name, int rows, int cols) in s_linears)
            {
                float[] weight = RandomWeight(rows, cols, rng);
                var watch = Stopwatch.StartNew();
                double[] w = pruner.PruneToDouble(weight, rows, cols, factors[cols], pattern, CancellationToken.None, out _);
                var pruned = new float[w.Length];
                for (int i = 0; i < w.Length; i++)
                {
                    pruned[i] = (float)w[i];
                }
                steps[$"sweep {name}"] = watch.Elapsed.TotalSeconds;
                watch.Restart();
                ReconstructionError.Compute(weight, pruned, rows, cols, statistics[cols].Hessian, CancellationToken.None);
                steps[$"error {name}"] = watch.Elapsed.TotalSeconds;
                layer += steps[$"sweep {name}"] + steps[$"error {name}"] + (FactorsPerLinear ? steps[$"factor {cols}"] : 0);
            }
            if (!FactorsPerLinear)
            {
                layer += s_inputsPerWidth.Sum(kv => kv.Value * steps[$"factor {kv.Key}"]);
            }
        }
        else
        {
            var pruner = new WandaPruner();
            foreach ((string name, int rows, int cols) in s_linears)
            {
                float[] weight = RandomWeight(rows, cols, rng);
                var watch = Stopwatch.StartNew();
                pruner.Prune(weight, rows, cols, statistics[cols], pattern);
                steps[$"select {name}"] = watch.Elapsed.TotalSeconds;
                layer += steps[$"select {name}"];
            }
        }
        steps["layer"] = layer;
        Console.WriteLine(JsonSerializer.Serialize(new { engine = "copal", threads = backend.Threads, method, pattern = patternText, seconds = steps }));
    }

    /// <summary>
    /// Whether the driver's SparseGPT factors each linear's Hessian anew (q/k/v three times), as the reference does;
    /// the layer total counts the factorizations the way the driver runs them: once per distinct input since the
    /// pruner shares U across the linears that read one input.
    /// </summary>
    private static readonly bool FactorsPerLinear = false;

    // The tap over nsamples windows of random N(0, 1) activations; only the accumulation and the fold are timed.
    private static (InputStatistics, double) Accumulate(IBackend backend, int cols, int nsamples, int seqlen, bool hessian, Random rng)
    {
        LinearId leader = cols == 2048 ? LinearId.QProj : LinearId.DownProj;
        using var tap = new StatisticsTap(backend, 0, new Dictionary<LinearId, int> { [leader] = cols }, hessian);
        using DeviceBuffer input = backend.Allocate((long)seqlen * cols);
        var host = new float[seqlen * cols];
        double seconds = 0;
        for (int s = 0; s < nsamples; s++)
        {
            for (int i = 0; i < host.Length; i++)
            {
                host[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            }
            backend.Upload(host, input);
            var watch = Stopwatch.StartNew();
            tap.Accumulate(leader, input, seqlen);
            tap.FoldSample();
            seconds += watch.Elapsed.TotalSeconds;
        }
        return (tap.Statistics[leader], seconds);
    }

    private static float[] RandomWeight(int rows, int cols, Random rng)
    {
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5);
        }
        return w;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
