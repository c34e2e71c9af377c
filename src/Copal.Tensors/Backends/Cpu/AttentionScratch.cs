namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// The scratch of the CPU attention kernels (a decode step's scores, a prefill block's Q, K, V and scores), one array
/// per thread, kept between calls. It grows with the context, so it grows by half again at least: an array made
/// exactly to size was made again at every decode step and every prefill chunk (an array per token per thread
/// left for the collector, which in a small container let that garbage and the KV cache pass the limit before a
/// collection ran, and the out-of-memory killer end the process). A growth is checked against the host memory as a
/// buffer is, and is only what is needed where half again would not fit; a thread runs one kernel at a time, so the kernels share the array. Half (not twice, as the KV cache
/// grows) bounds what each of many threads holds beyond its need, as every thread keeps its own.
/// </summary>
internal static class AttentionScratch
{
    private const int MinFloats = 256;

    [ThreadStatic]
    private static float[]? t_floats;

    /// <summary>This thread's scratch of at least <paramref name="needed"/> floats.</summary>
    /// <exception cref="DeviceOutOfMemoryException">A growth would not fit in the host memory available now.</exception>
    public static float[] Get(long needed, HostBufferFit fit)
    {
        if (t_floats is { } current && current.Length >= needed)
        {
            return current;
        }
        long held = t_floats?.Length ?? 0;
        long grown = Math.Max(needed, Math.Min(Array.MaxLength, Math.Max(MinFloats, held + (held / 2))));
        if (!fit.Fits(grown * sizeof(float)))
        {
            // The growth ahead of the context saves arrays, and is no need: where it does not fit, only the need is
            // asked for, and refused (named) where that does not fit either.
            grown = needed;
            fit.RequireBytes(grown * sizeof(float), "the attention scratch of one thread");
        }
        // The old array goes before the new one is made: a collection the new one sets off can take it.
        t_floats = null;
        return t_floats = new float[grown];
    }
}
