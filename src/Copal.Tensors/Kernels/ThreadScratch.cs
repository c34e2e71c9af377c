using System.Runtime.InteropServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// One thread's kernel scratch: 64-byte aligned native floats that only grow, kept between calls and freed when the
/// thread that holds it (through a [ThreadStatic] field) ends. A raw pointer in that field was never freed: each
/// engine's decoding thread, and each pool thread that retired, left its packing buffers behind, so a process that
/// loads and disposes engines grew by them with every load. The finalizer frees it, at a collection that its native
/// bytes, told to the collector, bring on: threads that make little managed garbage would otherwise run none.
/// </summary>
internal sealed unsafe class ThreadScratch
{
    private float* _data;
    private long _floats;
    private static long s_liveBytes;

    /// <summary>
    /// Bytes of scratch held, over all threads, live and ended but not yet finalized. Tests read it to check that a
    /// thread's scratch goes with it.
    /// </summary>
    internal static long LiveBytes => Interlocked.Read(ref s_liveBytes);

    /// <summary>Bytes of scratch ever allocated; only grows, so a test can see its own thread's allocation whatever others free.</summary>
    internal static long AllocatedBytes => Interlocked.Read(ref s_allocatedBytes);

    private static long s_allocatedBytes;

    /// <summary>Room for <paramref name="floats"/> floats (at least one), reallocated only when it is larger than the last.</summary>
    public float* Floats(long floats)
    {
        if (floats > _floats || _data == null)
        {
            Free();
            long length = Math.Max(1, floats);
            _data = (float*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
            _floats = length;
            // The collector sees only this small object: told of the native bytes behind it, it collects (and the
            // finalizer frees) ended threads' scratch as that grows, not only when managed garbage happens to.
            GC.AddMemoryPressure(length * sizeof(float));
            Interlocked.Add(ref s_liveBytes, length * sizeof(float));
            Interlocked.Add(ref s_allocatedBytes, length * sizeof(float));
        }
        return _data;
    }

    // The [ThreadStatic] field is the only reference: the thread's end makes this unreachable, and the finalizer frees it.
    ~ThreadScratch() => Free();

    private void Free()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
            GC.RemoveMemoryPressure(_floats * sizeof(float));
            Interlocked.Add(ref s_liveBytes, -_floats * sizeof(float));
            _data = null;
            _floats = 0;
        }
    }
}
