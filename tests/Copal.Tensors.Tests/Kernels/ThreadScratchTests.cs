using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// Kernel scratch is per thread: a thread that ends (an engine's decoding thread when the engine is disposed, a pool
/// thread that retires) must take its packing buffers with it, or a process that loads and disposes engines grows
/// by them with every load.
/// </summary>
[Collection(ThreadScratchCollection.Name)]
public class ThreadScratchTests
{
    private const int Rows = 40, Cols = 300, Inputs = 8;

    [Fact]
    public void A_thread_that_ran_the_matmul_kernels_frees_their_scratch_when_it_ends()
    {
        using var w = new StoredMatrix(DType.BF16, Rows, Cols, seed: 3);
        Settle();
        long before = ThreadScratch.LiveBytes;
        var held = new long[4];
        for (int t = 0; t < held.Length; t++)
        {
            int index = t;
            var thread = new Thread(() =>
            {
                long allocated = ThreadScratch.AllocatedBytes;
                RunKernels(w);
                held[index] = ThreadScratch.AllocatedBytes - allocated;
            });
            thread.Start();
            thread.Join();
        }
        Settle();
        // Each thread's first Gemm allocates its scratch, at least its inputs' slivers (8 rows of 256 columns): it is counted.
        Assert.All(held, bytes => Assert.True(bytes >= Inputs * 256 * sizeof(float), $"a thread allocated {bytes} bytes of counted scratch"));
        // ≤, not =: a pool thread of an earlier test may retire meanwhile and free its own.
        long after = ThreadScratch.LiveBytes;
        Assert.True(after <= before, $"{after - before} bytes of scratch outlived the {held.Length} threads that used it");
    }

    /// <summary>
    /// The scratch of ended threads is collected without anyone asking for it: the collector saw only a small object per
    /// thread, so threads that left a megabyte each and little managed garbage brought on no collection, and 200 of them
    /// (a prefill chunk's packing each) held 226 MiB of ended threads' scratch until something else did.
    /// </summary>
    [Fact]
    public void Ended_threads_scratch_brings_on_the_collection_that_frees_it()
    {
        const int Threads = 200, Prefill = 1024;
        using var w = new StoredMatrix(DType.BF16, Rows, Cols, seed: 3);
        float[] x = Rand.Floats(Prefill * Cols, seed: 5);
        var y = new float[Prefill * Rows];
        Settle();
        int collections = GC.CollectionCount(0);
        long allocated = ThreadScratch.AllocatedBytes;
        for (int t = 0; t < Threads; t++)
        {
            var thread = new Thread(() => Gemm.Compute(x, Prefill, w.Matrix, 0, Rows, y));
            thread.Start();
            thread.Join();
        }
        long total = ThreadScratch.AllocatedBytes - allocated;
        Assert.True(total >= Threads * (long)Prefill * 256 * sizeof(float), $"the threads allocated {total} bytes of counted scratch");
        // Not how much is still held: that depends on when the finalizer thread gets to it. Whether a collection ran
        // does not: the native bytes, far past the collector's budget for them, bring one on as they grow; a few
        // hundred small thread objects do not.
        Assert.True(GC.CollectionCount(0) > collections, $"no collection ran while {Threads} ended threads left {total >> 20} MiB of scratch");
    }

    private static unsafe void RunKernels(StoredMatrix w)
    {
        float[] x = Rand.Floats(Inputs * Cols, seed: 5);
        var y = new float[Inputs * Rows];
        Gemm.Compute(x, Inputs, w.Matrix, 0, Rows, y);
        if (BatchedGemv.Serves(w.Matrix, Inputs))
        {
            fixed (float* px = x)
            fixed (float* py = y)
            {
                BatchedGemv.Run(px, Inputs, w.Matrix, 0, Rows, py);
            }
        }
    }

    // An ended thread's [ThreadStatic] fields are released with it; its scratch is freed by the finalizer that follows.
    private static void Settle()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}

/// <summary>Tests that read <see cref="ThreadScratch.LiveBytes"/>, a process-wide count: xUnit runs them after, not beside, all others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadScratchCollection
{
    public const string Name = "thread scratch (process-wide count)";
}
