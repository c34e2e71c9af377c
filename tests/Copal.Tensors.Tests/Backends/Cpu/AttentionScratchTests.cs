using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends.Cpu;

/// <summary>
/// The CPU attention kernels' per-thread scratch (scores for a decode step, Q/K/V blocks and scores for a prefill
/// chunk) grows with the context. Each thread keeps it, so its growth is what costs memory: it is checked against
/// the host memory like a buffer, and grows geometrically so a long decode or a long prompt's chunks do not make a
/// new one at every step (an array per token per thread left for the collector, which in a container of 250 MiB let
/// a 17,000-token prompt's garbage and its KV cache pass the limit and the out-of-memory killer end the process).
/// Each test runs on a thread of its own, whose scratch starts empty.
/// </summary>
public sealed class AttentionScratchTests
{
    private const int Heads = 8, HeadDim = 32;

    /// <summary>Runs <paramref name="body"/> on a fresh thread and returns its exception, if any.</summary>
    private static Exception? OnFreshThread(Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return failure;
    }

    /// <summary>Managed bytes this thread allocated while attention ran <paramref name="rows"/> rows from each of <paramref name="starts"/>.</summary>
    private static long AllocatedWhileAttending(IBackend backend, int rows, IEnumerable<int> starts, int positions)
    {
        using DeviceBuffer q = backend.Allocate((long)rows * Heads * HeadDim);
        using DeviceBuffer k = backend.Allocate((long)positions * Heads * HeadDim);
        using DeviceBuffer v = backend.Allocate((long)positions * Heads * HeadDim);
        using DeviceBuffer output = backend.Allocate((long)rows * Heads * HeadDim);
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (int start in starts)
        {
            backend.Attention(q, k, v, output, new AttentionShape(rows, start, Heads, Heads, HeadDim, 0.125f));
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void Decode_steps_over_a_growing_context_do_not_make_new_scratch_at_each_step()
    {
        long allocated = 0;
        Exception? failure = OnFreshThread(() =>
        {
            using var backend = new CpuBackend(threads: 1);
            // 1,000 decode steps from position 1,000: one array of scores at each step was 4 KB or more each, 6 MB in all.
            allocated = AllocatedWhileAttending(backend, rows: 1, Enumerable.Range(1000, 1000), positions: 2000);
        });
        Assert.Null(failure);
        Assert.True(allocated < 64 << 10, $"{allocated} bytes allocated over 1,000 decode steps");
    }

    [Fact]
    public void Prefill_chunks_over_a_growing_context_do_not_make_new_scratch_at_each_chunk()
    {
        long allocated = 0;
        Exception? failure = OnFreshThread(() =>
        {
            using var backend = new CpuBackend(threads: 1);
            // 64 chunks of 64 rows: the blocked kernel's scratch (Q, K and V blocks and scores) grew at every chunk.
            allocated = AllocatedWhileAttending(backend, rows: 64, Enumerable.Range(0, 64).Select(c => c * 64), positions: 64 * 64);
        });
        Assert.Null(failure);
        // The whole context's scratch is 4,096 × 112 floats, 1.8 MB; grown by half again from the first chunk's, it is
        // made a dozen times, 7.4 MB in all (about three times the last array), and the memory figures read for the
        // largest add to that (8.3 MB here, other machines differ). Made anew at each chunk it was 60 MB.
        Assert.True(allocated < 16L << 20, $"{allocated} bytes allocated over 64 prefill chunks");
    }

    /// <summary>
    /// Growing by half again is a saving (fewer arrays as the context grows), not a need: where the memory left holds
    /// what the step needs but not the growth, the step gets what it needs rather than a refusal.
    /// </summary>
    [Fact]
    public void A_step_whose_need_fits_but_not_the_growth_ahead_of_it_still_runs()
    {
        Exception? failure = OnFreshThread(() =>
        {
            using var host = new HostMemoryControlledCpu(checkedBytes: 1024);
            IBackend backend = host.Backend;
            using DeviceBuffer q = backend.Allocate(Heads * HeadDim);
            using DeviceBuffer k = backend.Allocate(2000L * Heads * HeadDim);
            using DeviceBuffer v = backend.Allocate(2000L * Heads * HeadDim);
            using DeviceBuffer output = backend.Allocate(Heads * HeadDim);
            // A decode step at position 999 needs 1,000 floats of scores; the next, 1,001, which growth would make 1,500.
            backend.Attention(q, k, v, output, new AttentionShape(1, 999, Heads, Heads, HeadDim, 0.125f));
            host.FreeBytes = 1001 * sizeof(float) + 100;
            backend.Attention(q, k, v, output, new AttentionShape(1, 1000, Heads, Heads, HeadDim, 0.125f));
        });
        Assert.Null(failure);
    }

    [Fact]
    public void Scratch_that_would_eat_into_the_host_reserve_is_refused_and_named()
    {
        Exception? failure = OnFreshThread(() =>
        {
            using var host = new HostMemoryControlledCpu(checkedBytes: 16 << 10);
            IBackend backend = host.Backend;
            using DeviceBuffer q = backend.Allocate(64L * Heads * HeadDim);
            using DeviceBuffer k = backend.Allocate(4096L * Heads * HeadDim);
            using DeviceBuffer v = backend.Allocate(4096L * Heads * HeadDim);
            using DeviceBuffer output = backend.Allocate(64L * Heads * HeadDim);
            host.FreeBytes = 64 << 10;
            backend.Attention(q, k, v, output, new AttentionShape(64, 4096 - 64, Heads, Heads, HeadDim, 0.125f));
        });
        var e = Assert.IsType<DeviceOutOfMemoryException>(failure);
        Assert.True(e.OnHost);
        Assert.Contains("for the attention scratch of one thread did not fit", e.Message, StringComparison.Ordinal);
    }
}
