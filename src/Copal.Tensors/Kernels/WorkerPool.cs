using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Persistent threads that run the parts of one kernel call. A decode step issues a few hundred short ops, so
/// waking pool threads per op through <see cref="Parallel"/> (a closure, a task and a wake-up each) costs as much
/// as the op; here a call publishes a function pointer and a state pointer, workers spin briefly for the next
/// call before blocking, and the caller runs parts itself. Parts are claimed one at a time from a shared counter,
/// so on a loaded machine a descheduled worker's share is picked up by whoever is running.
/// </summary>
internal static unsafe class WorkerPool
{
    /// <summary>How long an idle worker spins for the next call before it blocks (back-to-back ops stay cheap).</summary>
    private static readonly long s_spinTicks = Stopwatch.Frequency / 20_000; // 50 µs

    private static readonly object s_dispatchLock = new();
    private static readonly object s_gate = new();
    private static readonly int s_workers = Math.Max(0, Environment.ProcessorCount - 1);
    private static int s_started;

    private static int s_generation; // bumped per call; wakes the workers
    private static int s_sleepers;
    private static long s_claim; // generation << 32 | parts << 16 | next part: read together so a claim can't cross calls
    private static int s_pending; // parts not yet finished
    private static delegate*<void*, int, void> s_job;
    private static void* s_state;
    private static Exception? s_error;

    [ThreadStatic]
    private static bool t_busy;

    /// <summary>Most parts one call may have (the claim word holds 16 bits each of parts and next).</summary>
    public const int MaxParts = 1 << 15;

    /// <summary>
    /// Runs job(state, p) for every p in [0, parts) and returns when all are done. Runs inline when there is
    /// one part, no worker, the caller is itself inside a job, or another thread holds the pool.
    /// </summary>
    public static void Run(delegate*<void*, int, void> job, void* state, int parts)
    {
        Debug.Assert(parts is > 0 and <= MaxParts);
        if (parts == 1 || s_workers == 0 || t_busy || !Monitor.TryEnter(s_dispatchLock))
        {
            RunInline(job, state, parts);
            return;
        }
        try
        {
            EnsureStarted();
            t_busy = true;
            s_job = job;
            s_state = state;
            s_error = null;
            Volatile.Write(ref s_pending, parts);
            int generation = s_generation + 1;
            Interlocked.Exchange(ref s_claim, ((long)generation << 32) | ((long)parts << 16));
            Interlocked.Exchange(ref s_generation, generation);
            if (Volatile.Read(ref s_sleepers) > 0)
            {
                lock (s_gate)
                {
                    Monitor.PulseAll(s_gate);
                }
            }
            ClaimAndRun();
            var spin = new SpinWait();
            while (Volatile.Read(ref s_pending) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
            if (s_error is Exception error)
            {
                s_error = null;
                ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
        finally
        {
            t_busy = false;
            Monitor.Exit(s_dispatchLock);
        }
    }

    private static void RunInline(delegate*<void*, int, void> job, void* state, int parts)
    {
        for (int p = 0; p < parts; p++)
        {
            job(state, p);
        }
    }

    /// <summary>Claims and runs parts of the current call until none is left.</summary>
    private static void ClaimAndRun()
    {
        long claim = Volatile.Read(ref s_claim);
        while (true)
        {
            int next = (int)(claim & 0xFFFF), parts = (int)((claim >> 16) & 0xFFFF);
            if (next >= parts)
            {
                return;
            }
            long seen = Interlocked.CompareExchange(ref s_claim, claim + 1, claim);
            if (seen != claim)
            {
                claim = seen;
                continue;
            }
            // The claim holds the call open (pending > 0), so job and state still belong to it.
            try
            {
                s_job(s_state, next);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref s_error, e, null);
            }
            Interlocked.Decrement(ref s_pending);
            claim = Volatile.Read(ref s_claim);
        }
    }

    private static void EnsureStarted()
    {
        if (Volatile.Read(ref s_started) != 0 || Interlocked.Exchange(ref s_started, 1) != 0)
        {
            return;
        }
        for (int i = 0; i < s_workers; i++)
        {
            new Thread(Work) { IsBackground = true, Name = $"copal-kernel-{i}" }.Start();
        }
    }

    private static void Work()
    {
        t_busy = true; // a job that dispatches again runs its parts inline
        int seen = Volatile.Read(ref s_generation);
        while (true)
        {
            seen = WaitForCall(seen);
            ClaimAndRun();
        }
    }

    private static int WaitForCall(int seen)
    {
        long start = Stopwatch.GetTimestamp();
        int generation;
        while ((generation = Volatile.Read(ref s_generation)) == seen)
        {
            if (Stopwatch.GetTimestamp() - start > s_spinTicks)
            {
                lock (s_gate)
                {
                    // Counted before re-reading the generation, so a caller that bumps it after this read sees a sleeper.
                    Interlocked.Increment(ref s_sleepers);
                    while ((generation = Volatile.Read(ref s_generation)) == seen)
                    {
                        Monitor.Wait(s_gate);
                    }
                    Interlocked.Decrement(ref s_sleepers);
                }
                return generation;
            }
            Thread.SpinWait(20);
        }
        return generation;
    }
}
