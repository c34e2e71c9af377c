using Copal.Cli.Commands;
using System.Diagnostics;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Kernels;

/// <summary>
/// A fast iteration probe (`probe` argument): bandwidth, then Copal and OpenBLAS on the real shapes, best of a few
/// runs each, printed as GB/s, GFLOP/s and ratios measured in the same process.
/// </summary>
internal static unsafe class QuickProbe
{
    public static void Run(string[] args)
    {
        int threads = Environment.ProcessorCount;
        bool gemmOnly = args.Contains("gemm"), gemvOnly = args.Contains("gemv");
        if (args.Contains("v256"))
        {
            KernelPaths.UseVector512 = false; // the AVX2 paths, for a same-machine comparison
        }
        if (args.Contains("panel"))
        {
            PanelLayoutProbe.Run(threads, args.Contains("f32") ? DType.F32 : args.Contains("f16") ? DType.F16 : DType.BF16);
            return;
        }
        if (args.Contains("f16-vs-bf16"))
        {
            HalfRateProbe.Run(threads);
            return;
        }
        if (args.Contains("gemv-memory"))
        {
            GemvFromMemory(threads);
            return;
        }
        if (args.Contains("batch"))
        {
            Batch(args.Contains("l3") ? 16L << 20 : 256L << 20, args.Contains("t1") ? 1 : threads);
            return;
        }
        double bandwidth = BandwidthProbe.Measure(threads, 5);
        Console.WriteLine($"streaming read, {threads} threads: {bandwidth:F2} GB/s; OpenBLAS {(BenchOpenBlas.IsAvailable ? "loaded" : "absent")}");
        BenchOpenBlas.SetThreads(threads);
        (int Out, int In)[] shapes = [(4096, 4096), (11008, 4096), (4096, 11008)];
        Console.WriteLine("| shape out×in | n | dtype | Copal | OpenBLAS f32 | ratio | vs bandwidth |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (int n in new[] { 1, 512 })
        {
            if ((n == 1 && gemmOnly) || (n > 1 && gemvOnly))
            {
                continue;
            }
            foreach (var (o, i) in shapes)
            {
                if (n > 1 && o != 4096 && args.Contains("short"))
                {
                    continue;
                }
                double? blas = null;
                string peer = "—";
                foreach (DType dtype in new[] { DType.F32, DType.BF16, DType.F16 })
                {
                    using var b = new LinearBuffers(o, i, n, dtype);
                    int repeats = n == 1 ? 20 : 3;
                    double ours = Best(repeats, () => MatMul.Compute(b.XSpan, n, b.Matrix, b.YSpan, threads));
                    if (dtype == DType.F32 && BenchOpenBlas.IsAvailable)
                    {
                        blas = Best(repeats, () => BenchOpenBlas.Linear(b.X, n, (float*)b.Weight, o, i, b.Y));
                    }
                    string Rate(double s) => n == 1 ? $"{b.WeightBytes / s / 1e9:F2} GB/s" : $"{b.Flops / s / 1e9:F1} GFLOP/s";
                    if (dtype == DType.F32 && blas is double t)
                    {
                        peer = Rate(t); // the peer always streams f32, so its rate is stated in f32 bytes
                    }
                    // A GEMV's peer streams f32, so compare times; a GEMM's peer does the same flops.
                    string ratio = blas is double u ? $"{u / ours:F2}" : "—";
                    string bw = n == 1 ? $"{b.WeightBytes / ours / 1e9 / bandwidth:P0}" : "";
                    Console.WriteLine($"| {o}×{i} | {n} | {dtype} | {Rate(ours)} | {peer} | {ratio} | {bw} |");
                }
            }
        }
    }

    /// <summary>
    /// Batched decode's linears (TinyLlama-1.1B shapes, BF16) at n = 1, 4 and 8 input rows, with the weights coming
    /// from memory as in a decode step: each call takes the next of enough copies to fill 256 MiB (`l3`: 16 MiB).
    /// Medians of the calls; rounds alternate; "÷ n=1" is how many one-row calls' time n rows cost in the same round.
    /// </summary>
    private static void Batch(long footprint, int threads)
    {
        double bandwidth = BandwidthProbe.Measure(threads, 5);
        Console.WriteLine($"streaming read, {threads} threads: {bandwidth:F2} GB/s");
        Console.WriteLine("| shape out×in | threads | n | µs | GB/s of weight | GFLOP/s | time ÷ n=1 |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (o, i) in new[] { (2048, 2048), (5632, 2048), (2048, 5632), (32000, 2048) })
        {
            int copies = (int)Math.Max(2, footprint / ((long)o * i * sizeof(ushort)));
            var buffers = new LinearBuffers[copies];
            for (int c = 0; c < copies; c++)
            {
                buffers[c] = new LinearBuffers(o, i, 8, DType.BF16);
            }
            for (int round = 0; round < 2; round++)
            {
                double one = 0;
                foreach (int n in new[] { 1, 4, 8 })
                {
                    int next = 0;
                    double s = Median(4 * copies, () =>
                    {
                        var b = buffers[next++ % copies];
                        MatMul.Compute(b.XSpan[..(n * i)], n, b.Matrix, b.YSpan[..(n * o)], threads);
                    });
                    one = n == 1 ? s : one;
                    Console.WriteLine($"| {o}×{i} | {threads} | {n} | {s * 1e6:F0} | {(long)o * i * sizeof(ushort) / s / 1e9:F1} | {2.0 * n * o * i / s / 1e9:F1} | {s / one:F2} |");
                }
            }
            foreach (var b in buffers)
            {
                b.Dispose();
            }
        }
    }

    /// <summary>
    /// Decode's GEMV on TinyLlama-1.1B's shapes in each weight dtype, with the weights coming from memory as in a
    /// decode step: each call takes the next of enough copies to fill 256 MiB. F16 runs twice on the same copies:
    /// marked finite, as a model's loader marks the weights it checked, and unmarked, as weights loaded with
    /// --allow-nonfinite are (the conversion that also handles Inf and NaN). GB/s of stored weight bytes, the mean of
    /// eight rounds' medians; the columns run in alternating order from round to round, since the first to run in a
    /// round was measured slower. The last column is the median over rounds of unmarked time ÷ marked time.
    /// </summary>
    private static void GemvFromMemory(int threads)
    {
        Console.WriteLine($"streaming read, {threads} threads: {BandwidthProbe.Measure(threads, 5):F2} GB/s; {(KernelPaths.UseVector512 ? "Vector512" : "Vector256")} paths");
        (string Name, DType DType, bool Marked)[] columns = [("F32", DType.F32, true), ("BF16", DType.BF16, true), ("F16", DType.F16, true), ("F16 unmarked", DType.F16, false)];
        Console.WriteLine($"| shape out×in | {string.Join(" | ", columns.Select(c => $"{c.Name} GB/s"))} | F16 unmarked ÷ marked time |");
        Console.WriteLine($"|---|{string.Concat(columns.Select(_ => "---|"))}---|");
        const int Rounds = 8;
        foreach (var (o, i) in new[] { (2048, 2048), (5632, 2048), (2048, 5632), (32000, 2048) })
        {
            var buffers = new[] { DType.F32, DType.BF16, DType.F16 }.ToDictionary(d => d, d =>
                Enumerable.Range(0, (int)Math.Max(2, (256L << 20) / ((long)o * i * d.SizeOf()))).Select(_ => new LinearBuffers(o, i, 1, d)).ToArray());
            var seconds = new double[columns.Length];
            var ratios = new double[Rounds];
            for (int round = 0; round < Rounds; round++)
            {
                var times = new double[columns.Length];
                foreach (int c in round % 2 == 0 ? Enumerable.Range(0, columns.Length) : Enumerable.Range(0, columns.Length).Reverse())
                {
                    LinearBuffers[] copies = buffers[columns[c].DType];
                    bool marked = columns[c].Marked;
                    int next = 0;
                    times[c] = Median(4 * copies.Length, () =>
                    {
                        var b = copies[next++ % copies.Length];
                        MatMul.Compute(b.XSpan[..i], 1, b.Matrix with { FiniteVerified = marked }, b.YSpan[..o], threads);
                    });
                    seconds[c] += times[c];
                }
                ratios[round] = times[3] / times[2];
            }
            Array.Sort(ratios);
            Console.WriteLine($"| {o}×{i} | {string.Join(" | ", columns.Select((c, k) => $"{(long)o * i * c.DType.SizeOf() / (seconds[k] / Rounds) / 1e9:F1}"))} | {ratios[Rounds / 2]:F2} |");
            foreach (var b in buffers.Values.SelectMany(c => c))
            {
                b.Dispose();
            }
        }
    }

    internal static double Median(int repeats, Action action)
    {
        action();
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    private static double Best(int repeats, Action action)
    {
        action();
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }
}
