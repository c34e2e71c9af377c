namespace Copal.Tensors.Kernels;

/// <summary>
/// The one place kernels are spread over threads: a count of independent items (rows, heads, output features) is
/// cut into contiguous ranges, one per thread, whose boundaries are multiples of <c>align</c> so that SIMD blocks
/// stay whole. Kernels themselves only ever see one range, which keeps them testable single-threaded.
/// </summary>
public static class RowPartition
{
    /// <summary>Threads to use for a request of <paramref name="threads"/> (0 or less = all cores).</summary>
    public static int Resolve(int threads) => threads <= 0 ? Environment.ProcessorCount : threads;

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over ranges covering [0, <paramref name="count"/>), in parallel
    /// when more than one range results. Items below <paramref name="minPerThread"/> per thread stay on one thread.
    /// </summary>
    public static void For(int count, int threads, int align, int minPerThread, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(align, 1);
        if (count == 0)
        {
            return;
        }
        int blocks = (count + align - 1) / align;
        int parts = Math.Min(Resolve(threads), blocks);
        parts = Math.Min(parts, Math.Max(1, count / Math.Max(1, minPerThread)));
        if (parts <= 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            int start = (int)((long)blocks * part / parts) * align;
            int end = Math.Min(count, (int)((long)blocks * (part + 1) / parts) * align);
            if (start < end)
            {
                body(start, end);
            }
        });
    }
}
