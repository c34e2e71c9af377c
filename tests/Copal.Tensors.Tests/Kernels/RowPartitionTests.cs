using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// The persistent worker pool behind <see cref="RowPartition"/>: coverage, concurrency, nesting, errors, no allocation.
/// Run alone: the allocation check needs windows free of garbage collections, which other classes' tests, allocating
/// beside it, could start in every one of them on a loaded machine.
/// </summary>
[Collection(AloneCollection.Name)]
public class RowPartitionTests
{
    private readonly unsafe struct MarkBody(int* marks) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref marks[i]);
            }
        }
    }

    [Fact]
    public unsafe void Every_item_runs_exactly_once_for_any_count_and_split()
    {
        foreach (int threads in new[] { 1, 2, 3, 8 })
        {
            foreach (int align in new[] { 1, 4, 16 })
            {
                for (int count = 0; count <= 70; count++)
                {
                    var marks = new int[count];
                    fixed (int* m = marks)
                    {
                        RowPartition.For(count, threads, align, 1, new MarkBody(m));
                    }
                    Assert.All(marks, v => Assert.Equal(1, v));
                }
            }
        }
    }

    [Fact]
    public void Concurrent_and_nested_callers_all_complete()
    {
        Parallel.For(0, 8, caller =>
        {
            for (int r = 0; r < 200; r++)
            {
                long total = 0;
                RowPartition.For(64, 2, 1, 1, (s, e) =>
                {
                    // A nested call runs inline on the worker that made it.
                    RowPartition.For(e - s, 2, 1, 1, (a, b) => Interlocked.Add(ref total, b - a));
                });
                Assert.Equal(64, Interlocked.Read(ref total));
            }
        });
    }

    [Fact]
    public void An_exception_in_any_part_reaches_the_caller_and_the_pool_stays_usable()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            RowPartition.For(100, 2, 1, 1, (s, e) => throw new InvalidOperationException($"range {s}..{e}")));
        Assert.StartsWith("range", error.Message);
        long total = 0;
        RowPartition.For(100, 2, 1, 1, (s, e) => Interlocked.Add(ref total, e - s));
        Assert.Equal(100, total);
    }

    [Fact]
    public void Tiny_work_stays_on_the_calling_thread()
    {
        int caller = Environment.CurrentManagedThreadId, seen = -1;
        RowPartition.For(64, 2, 4, 64, (s, e) => seen = Environment.CurrentManagedThreadId);
        Assert.Equal(caller, seen);
    }

    [Fact]
    public unsafe void A_threaded_matmul_allocates_nothing_in_steady_state()
    {
        using var w = new StoredMatrix(DType.BF16, 1024, 512, seed: 1);
        float[] x = Rand.Floats(4 * 512, seed: 2);
        var y = new float[4 * 1024];
        foreach (int n in new[] { 1, 4 })
        {
            MatMul.Compute(x.AsSpan(0, n * 512), n, w.Matrix, y, threads: 2); // warm: pool threads, pack buffers
            long allocated = LeastAllocatedWithoutGc(() =>
            {
                for (int r = 0; r < 20; r++)
                {
                    MatMul.Compute(x.AsSpan(0, n * 512), n, w.Matrix, y, threads: 2);
                }
            });
            Assert.Equal(0, allocated);
        }
    }

    /// <summary>
    /// Bytes this thread allocates in <paramref name="work"/>: the least over several runs during which no GC
    /// happened. A GC that other tests' threads trigger shifts this thread's count by a few hundred bytes, and the
    /// runtime now and then allocates on a thread that trips a tier-up; an allocation of the work itself shows
    /// in every run.
    /// </summary>
    private static long LeastAllocatedWithoutGc(Action work)
    {
        long least = long.MaxValue;
        // Up to 500 windows of about a millisecond: other test classes' threads may start a GC in any one of them.
        for (int attempt = 0; attempt < 500 && least != 0; attempt++)
        {
            int collections = GC.CollectionCount(0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            work();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (GC.CollectionCount(0) == collections)
            {
                least = Math.Min(least, allocated);
            }
        }
        Assert.True(least != long.MaxValue, "every one of 500 measurement windows saw a GC");
        return least;
    }
}

/// <summary>Test classes that measure process-wide state (garbage collections): xUnit runs them after, not beside, all others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone (process-wide measurements)";
}
