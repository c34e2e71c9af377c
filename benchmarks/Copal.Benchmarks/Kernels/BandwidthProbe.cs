using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Copal.Benchmarks.Kernels;

/// <summary>Streaming-read bandwidth: every thread sums its share of a 1 GiB buffer with Vector256 loads.</summary>
internal static unsafe class BandwidthProbe
{
    public const long Bytes = 1L << 30;

    /// <summary>Best GB/s over <paramref name="repeats"/> passes.</summary>
    public static double Measure(int threads, int repeats)
    {
        int* buffer = AllocateFilled();
        try
        {
            double best = 0;
            for (int r = 0; r < repeats; r++)
            {
                best = Math.Max(best, Bytes / ReadSeconds(buffer, threads) / 1e9);
            }
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// A buffer of <see cref="Bytes"/>, every page written, so a read pass finds it resident; free it with
    /// NativeMemory.AlignedFree. Writing it takes many times longer than reading it: a timed read must not include it.
    /// </summary>
    public static int* AllocateFilled()
    {
        int* buffer = (int*)NativeMemory.AlignedAlloc((nuint)Bytes, 64);
        new Span<byte>(buffer, (int)Bytes).Fill(1);
        return buffer;
    }

    /// <summary>Seconds for <paramref name="threads"/> threads to read <paramref name="buffer"/> (<see cref="Bytes"/>) once, each its share.</summary>
    public static double ReadSeconds(int* buffer, int threads)
    {
        long start = Stopwatch.GetTimestamp();
        int sink = 0;
        nint p = (nint)buffer;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long count = Bytes / sizeof(int) / threads;
            int s = Sum((int*)p + t * count, count);
            if (s == 42)
            {
                sink += s;
            }
        });
        return Stopwatch.GetElapsedTime(start).TotalSeconds + sink;
    }

    /// <summary>Integer adds: the probe must measure memory, not float latency or denormal assists.</summary>
    private static int Sum(int* p, long count)
    {
        Vector256<int> a = default, b = default, c = default, d = default;
        for (long i = 0; i + 32 <= count; i += 32)
        {
            a += Vector256.LoadAligned(p + i);
            b += Vector256.LoadAligned(p + i + 8);
            c += Vector256.LoadAligned(p + i + 16);
            d += Vector256.LoadAligned(p + i + 24);
        }
        return Vector256.Sum(a + b + c + d);
    }
}
