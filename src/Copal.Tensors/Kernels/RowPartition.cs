using System.Runtime.CompilerServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// The one place kernels are spread over threads: a count of independent items (rows, heads, output features) is
/// cut into contiguous ranges, one per thread, whose boundaries are multiples of <c>align</c> so that SIMD blocks
/// stay whole. Kernels themselves only ever see one range, which keeps them testable single-threaded. Ranges run
/// on the persistent <see cref="WorkerPool"/>; with a struct body a call allocates nothing.
/// </summary>
internal static unsafe class RowPartition
{
    /// <summary>Threads to use for a request of <paramref name="threads"/> (0 or less = all cores).</summary>
    public static int Resolve(int threads) => threads <= 0 ? Environment.ProcessorCount : threads;

    /// <summary>
    /// Ranges one call is cut into: at most <paramref name="threads"/>, at most one per align-block, and none with
    /// fewer than <paramref name="minPerThread"/> items (tiny ops stay on the calling thread, where a wake-up would
    /// cost more than the work).
    /// </summary>
    public static int Parts(int count, int threads, int align, int minPerThread)
    {
        int blocks = (count + align - 1) / align;
        int parts = Math.Min(Resolve(threads), blocks);
        parts = Math.Min(parts, Math.Max(1, count / Math.Max(1, minPerThread)));
        return Math.Clamp(parts, 1, WorkerPool.MaxParts);
    }

    /// <summary>
    /// Runs <paramref name="body"/>.Run(start, end) over ranges covering [0, <paramref name="count"/>), in
    /// parallel when more than one range results. Items below <paramref name="minPerThread"/> per thread stay on
    /// one thread. The body is copied once to this frame and read by every thread; it must not rely on mutation.
    /// </summary>
    public static void For<TBody>(int count, int threads, int align, int minPerThread, in TBody body)
        where TBody : struct, IRangeBody
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(align, 1);
        if (count == 0)
        {
            return;
        }
        int parts = Parts(count, threads, align, minPerThread);
        if (parts == 1)
        {
            TBody single = body;
            single.Run(0, count);
            return;
        }
        TBody copy = body; // lives in this frame until every part is done, so its address stays valid
        var job = new Job { Body = Unsafe.AsPointer(ref copy), Count = count, Align = align, Blocks = (count + align - 1) / align, Parts = parts };
        WorkerPool.Run(&RunPart<TBody>, &job, parts);
    }

    /// <summary>Delegate form for callers outside the hot path; the delegate is the caller's (no extra closure here).</summary>
    public static void For(int count, int threads, int align, int minPerThread, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(count, threads, align, minPerThread, new ActionBody(body));
    }

    /// <summary>Start of range <paramref name="part"/> of <paramref name="parts"/> over <paramref name="blocks"/> align-blocks.</summary>
    internal static int Boundary(int part, int parts, int blocks, int align, int count) =>
        Math.Min(count, (int)((long)blocks * part / parts) * align);

    private static void RunPart<TBody>(void* state, int part)
        where TBody : struct, IRangeBody
    {
        ref Job job = ref *(Job*)state;
        int start = Boundary(part, job.Parts, job.Blocks, job.Align, job.Count);
        int end = Boundary(part + 1, job.Parts, job.Blocks, job.Align, job.Count);
        if (start < end)
        {
            Unsafe.AsRef<TBody>(job.Body).Run(start, end);
        }
    }

    private struct Job
    {
        public void* Body;
        public int Count, Align, Blocks, Parts;
    }

    private readonly struct ActionBody(Action<int, int> body) : IRangeBody
    {
        public void Run(int start, int end) => body(start, end);
    }
}
