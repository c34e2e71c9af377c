using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Streaming-read bandwidth, the ceiling a decode step (one pass over every weight byte) is judged against. Sums
/// a buffer far larger than the last-level cache with the widest vectors and several accumulators, spread over the
/// same worker pool and claimable parts as the kernels, so the probe is no weaker than the GEMV it judges.
/// </summary>
internal static unsafe class MemoryBandwidth
{
    /// <summary>
    /// Best GB/s (10^9 bytes per second) over <paramref name="repeats"/> reads of a <paramref name="bytes"/> buffer,
    /// on the calling thread when <paramref name="threads"/> is 1, else on every core (as the kernels run).
    /// </summary>
    /// <exception cref="Backends.DeviceOutOfMemoryException">The buffer would not fit in the host memory available now.</exception>
    public static double MeasureRead(long bytes = 512L << 20, int threads = 0, int repeats = 5) =>
        MeasureRead(bytes, threads, repeats, new HostBufferFit());

    /// <summary><see cref="MeasureRead(long, int, int)"/> with the host memory the buffer is checked against (tests give a fixed amount).</summary>
    internal static double MeasureRead(long bytes, int threads, int repeats, HostBufferFit fit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1L << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        // The buffer is filled at once, every page touched: in a container with less room than that (a bench run
        // beside a model read into memory), the out-of-memory killer would end the process with no message.
        fit.RequireBytes(bytes, "the streaming-read probe's buffer",
            "the probe reads a buffer of that size to measure the memory bandwidth, and needs that much free");
        long ints = bytes / sizeof(int) / 64 * 64;
        int* buffer = (int*)NativeMemory.AlignedAlloc((nuint)(ints * sizeof(int)), 64);
        try
        {
            new Span<int>(buffer, (int)Math.Min(ints, int.MaxValue)).Fill(1);
            if (ints > int.MaxValue)
            {
                new Span<int>(buffer + int.MaxValue, (int)(ints - int.MaxValue)).Fill(1);
            }
            return Measure(buffer, ints, threads, repeats);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// Best GB/s over <paramref name="repeats"/> reads of memory that already exists, such as a memory-mapped
    /// checkpoint: the ceiling measured on the very pages a decode streams (file-backed, page-cache pages).
    /// </summary>
    public static double MeasureRead(void* data, long bytes, int threads = 0, int repeats = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1L << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        // The summing loop uses aligned 64-byte loads: start at the first 64-byte boundary and stop at the last whole group.
        long skip = (64 - (long)((nuint)data % 64)) % 64;
        int* start = (int*)((byte*)data + skip);
        long ints = (bytes - skip) / sizeof(int) / 64 * 64;
        return Measure(start, ints, threads, repeats);
    }

    private static double Measure(int* buffer, long ints, int threads, int repeats)
    {
        // Parts of 1 MiB: enough that a descheduled thread's share is taken over, few enough to cost nothing.
        int chunks = (int)Math.Min(WorkerPool.MaxParts, Math.Max(1, ints / (1 << 18)));
        var body = new SumBody(buffer, ints, chunks);
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            RowPartition.For(chunks, threads == 1 ? 1 : chunks, 1, 1, body);
            best = Math.Max(best, ints * sizeof(int) / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9);
        }
        GC.KeepAlive(s_sink);
        return best;
    }

    private static int s_sink;

    private readonly struct SumBody(int* buffer, long ints, int chunks) : IRangeBody
    {
        public void Run(int start, int end)
        {
            long from = ints * start / chunks / 64 * 64, to = end == chunks ? ints : ints * end / chunks / 64 * 64;
            int s = Sum(buffer + from, to - from);
            if (s == 42)
            {
                s_sink += s; // keeps the loads from being optimized away
            }
        }
    }

    /// <summary>Integer adds: the probe must measure memory, not float latency.</summary>
    private static int Sum(int* p, long count)
    {
        Debug.Assert(count % 64 == 0);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<int> a = default, b = default, c = default, d = default;
            for (long i = 0; i < count; i += 64)
            {
                a += Vector512.LoadAligned(p + i);
                b += Vector512.LoadAligned(p + i + 16);
                c += Vector512.LoadAligned(p + i + 32);
                d += Vector512.LoadAligned(p + i + 48);
            }
            return Vector512.Sum(a + b + c + d);
        }
        Vector256<int> e = default, f = default, g = default, h = default;
        for (long i = 0; i < count; i += 32)
        {
            e += Vector256.LoadAligned(p + i);
            f += Vector256.LoadAligned(p + i + 8);
            g += Vector256.LoadAligned(p + i + 16);
            h += Vector256.LoadAligned(p + i + 24);
        }
        return Vector256.Sum(e + f + g + h);
    }
}
