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
