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
/// the reconstruction error Copal reports beside it, and the Wanda pruner. Beside the wall clock ("seconds") it prints
/// the process's CPU seconds over the same spans ("cpu", all threads), which is what to compare on a machine shared
/// past its cores, where the wall clock measures the queue.
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
        var cpu = new Dictionary<string, double>();
        var rng = new Random(1);
        bool hessian = method == "sparsegpt";
        var statistics = new Dictionary<int, InputStatistics>();
        foreach (int cols in s_inputsPerWidth.Keys)
        {
            string key = $"{(hessian ? "hessian" : "statistics")} {cols}";
            (statistics[cols], steps[key], cpu[key]) = Accumulate(backend, cols, nsamples, seqlen, hessian, new Random(0));
        }
        if (hessian)
        {
            var pruner = new SparseGptPruner();
            var factors = new Dictionary<int, SweepFactor>();
            foreach (int cols in s_inputsPerWidth.Keys)
            {
                double[] h = (double[])statistics[cols].Hessian.Clone();
                var span = StepClock.Start();
                factors[cols] = SweepFactor.Compute(h, cols, pruner.Options, CancellationToken.None);
                span.Stop(steps, cpu, $"factor {cols}");
            }
            foreach ((string name, int rows, int cols) in s_linears)
            {
                float[] weight = RandomWeight(rows, cols, rng);
                var span = StepClock.Start();
                double[] w = pruner.PruneToDouble(weight, rows, cols, factors[cols], pattern, CancellationToken.None, out _);
                var pruned = new float[w.Length];
                for (int i = 0; i < w.Length; i++)
                {
                    pruned[i] = (float)w[i];
                }
                span.Stop(steps, cpu, $"sweep {name}");
                span = StepClock.Start();
                ReconstructionError.Compute(weight, pruned, rows, cols, statistics[cols].Hessian, CancellationToken.None);
                span.Stop(steps, cpu, $"error {name}");
            }
        }
        else
        {
            var pruner = new WandaPruner();
            foreach ((string name, int rows, int cols) in s_linears)
            {
                float[] weight = RandomWeight(rows, cols, rng);
                var span = StepClock.Start();
                pruner.Prune(weight, rows, cols, statistics[cols], pattern);
                span.Stop(steps, cpu, $"select {name}");
            }
        }
        steps["layer"] = Layer(steps, hessian);
        cpu["layer"] = Layer(cpu, hessian);
        Console.WriteLine(JsonSerializer.Serialize(new { engine = "copal", threads = backend.Threads, method, pattern = patternText, seconds = steps, cpu }));
    }

    // The layer as the driver runs it: one set of statistics per distinct input, U once per input (or per linear, as
    // the reference does, under FactorsPerLinear), and every linear's sweep, error or selection.
    private static double Layer(Dictionary<string, double> steps, bool hessian)
    {
        double layer = s_inputsPerWidth.Sum(kv => kv.Value * steps[$"{(hessian ? "hessian" : "statistics")} {kv.Key}"]);
        layer += steps.Where(kv => kv.Key.StartsWith("sweep ", StringComparison.Ordinal) || kv.Key.StartsWith("error ", StringComparison.Ordinal)
            || kv.Key.StartsWith("select ", StringComparison.Ordinal)).Sum(kv => kv.Value);
        if (hessian)
        {
            layer += FactorsPerLinear
                ? s_linears.Sum(l => steps[$"factor {l.Cols}"])
                : s_inputsPerWidth.Sum(kv => kv.Value * steps[$"factor {kv.Key}"]);
        }
        return layer;
    }

    /// <summary>
    /// Whether the driver's SparseGPT factors each linear's Hessian anew (q/k/v three times), as the reference does;
    /// the layer total counts the factorizations the way the driver runs them: once per distinct input since the
    /// pruner shares U across the linears that read one input.
    /// </summary>
    private static readonly bool FactorsPerLinear = false;

    // The tap over nsamples windows of random N(0, 1) activations; only the accumulation and the fold are timed.
    private static (InputStatistics, double Seconds, double Cpu) Accumulate(IBackend backend, int cols, int nsamples, int seqlen, bool hessian, Random rng)
    {
        LinearId leader = cols == 2048 ? LinearId.QProj : LinearId.DownProj;
        using var tap = new StatisticsTap(backend, 0, new Dictionary<LinearId, int> { [leader] = cols }, hessian);
        using DeviceBuffer input = backend.Allocate((long)seqlen * cols);
        var host = new float[seqlen * cols];
        var seconds = new Dictionary<string, double>();
        var cpu = new Dictionary<string, double>();
        for (int s = 0; s < nsamples; s++)
        {
            for (int i = 0; i < host.Length; i++)
            {
                host[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            }
            backend.Upload(host, input);
            var span = StepClock.Start();
            tap.Accumulate(leader, input, seqlen);
            tap.FoldSample();
            span.Add(seconds, cpu, "window");
        }
        return (tap.Statistics[leader], seconds.GetValueOrDefault("window"), cpu.GetValueOrDefault("window"));
    }

    // A step's wall clock and the process's CPU time (all threads) from Start to Stop.
    private readonly struct StepClock
    {
        private readonly long _start;
        private readonly TimeSpan _cpu;

        private StepClock(long start, TimeSpan cpu) => (_start, _cpu) = (start, cpu);

        public static StepClock Start() => new(Stopwatch.GetTimestamp(), Process.GetCurrentProcess().TotalProcessorTime);

        public void Stop(Dictionary<string, double> seconds, Dictionary<string, double> cpu, string key)
        {
            seconds[key] = 0;
            cpu[key] = 0;
            Add(seconds, cpu, key);
        }

        public void Add(Dictionary<string, double> seconds, Dictionary<string, double> cpu, string key)
        {
            seconds[key] = seconds.GetValueOrDefault(key) + Stopwatch.GetElapsedTime(_start).TotalSeconds;
            cpu[key] = cpu.GetValueOrDefault(key) + (Process.GetCurrentProcess().TotalProcessorTime - _cpu).TotalSeconds;
        }
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
