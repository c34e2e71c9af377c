using System.Diagnostics;
using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Cli.Commands;

/// <summary>One row of <c>copal bench kernels</c>: Copal and (for F32) OpenBLAS on one shape, medians of the repeats.</summary>
internal sealed record KernelBenchRow(int Out, int In, int N, string DType, double Seconds, double? PeerSeconds, double Rate, string Unit,
    double? PeerRate, double? Ratio, double? OfBandwidth);

/// <summary>
/// Linear layers on LLaMA-7B shapes (4096×4096, 11008×4096, 4096×11008), n = 1 (GEMV: GB/s of stored weight
/// bytes, and the share of streaming bandwidth) and n = 512 (GEMM: GFLOP/s), every weight dtype, with OpenBLAS
/// f32 timed in the same process. ratio = peer time / Copal time, so above 1 means Copal is faster.
/// </summary>
internal static unsafe class BenchKernels
{
    public static (double Bandwidth, List<KernelBenchRow> Rows) Run(int threads, int repeat, bool gemv, bool gemm, Action<KernelBenchRow> report)
    {
        double bandwidth = MemoryBandwidth.MeasureRead(512L << 20, threads, 5);
        BenchOpenBlas.SetThreads(RowPartition.Resolve(threads));
        var rows = new List<KernelBenchRow>();
        (int Out, int In)[] shapes = [(4096, 4096), (11008, 4096), (4096, 11008)];
        foreach (int n in new[] { 1, 512 })
        {
            if ((n == 1 && !gemv) || (n > 1 && !gemm))
            {
                continue;
            }
            foreach (var (o, i) in shapes)
            {
                double? peer = null;
                foreach (DType dtype in new[] { DType.F32, DType.BF16, DType.F16 })
                {
                    long count = (long)o * i;
                    void* weight = NativeMemory.AlignedAlloc((nuint)(count * dtype.SizeOf()), 64);
                    float* x = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * i * sizeof(float)), 64);
                    float* y = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * o * sizeof(float)), 64);
                    try
                    {
                        Fill(weight, count, dtype, x, (long)n * i);
                        // Finite random weights, marked as a model's loader marks the weights it checked.
                        var matrix = new WeightMatrix(weight, dtype, o, i) { FiniteVerified = true };
                        int reps = n == 1 ? Math.Max(repeat, 10) : repeat;
                        double ours = Median(reps, () => MatMul.Compute(new ReadOnlySpan<float>(x, n * i), n, matrix, new Span<float>(y, n * o), threads));
                        if (dtype == DType.F32 && BenchOpenBlas.IsAvailable)
                        {
                            peer = Median(reps, () => BenchOpenBlas.Linear(x, n, (float*)weight, o, i, y));
                        }
                        double rate = n == 1 ? matrix.ByteLength / ours / 1e9 : 2.0 * n * count / ours / 1e9;
                        // The peer streams f32 whatever our dtype, so its GEMV rate is stated in f32 bytes.
                        double? peerRate = peer is double p ? (n == 1 ? count * 4.0 / p / 1e9 : 2.0 * n * count / p / 1e9) : null;
                        var row = new KernelBenchRow(o, i, n, dtype.ToString(), ours, peer, rate, n == 1 ? "GB/s" : "GFLOP/s", peerRate,
                            peer / ours, n == 1 ? rate / bandwidth : null);
                        rows.Add(row);
                        report(row);
                    }
                    finally
                    {
                        NativeMemory.AlignedFree(weight);
                        NativeMemory.AlignedFree(x);
                        NativeMemory.AlignedFree(y);
                    }
                }
            }
        }
        return (bandwidth, rows);
    }

    private static void Fill(void* weight, long count, DType dtype, float* x, long xCount)
    {
        var random = new Random(1);
        for (long k = 0; k < count; k++)
        {
            float v = (float)(random.NextDouble() - 0.5);
            switch (dtype)
            {
                case DType.F32: ((float*)weight)[k] = v; break;
                case DType.BF16: ((ushort*)weight)[k] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16); break;
                default: ((Half*)weight)[k] = (Half)v; break;
            }
        }
        for (long k = 0; k < xCount; k++)
        {
            x[k] = (float)(random.NextDouble() - 0.5);
        }
    }

    private static double Median(int repeats, Action action)
    {
        // Warm up for a while, not once: tiered JIT promotes the kernels' loops only after they have run for a
        // moment, and the first shape measured would otherwise time unoptimized code.
        long warmStart = Stopwatch.GetTimestamp();
        do
        {
            action();
        }
        while (Stopwatch.GetElapsedTime(warmStart).TotalSeconds < 0.3);
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return BenchModel.Median(times);
    }
}
