namespace Copal.Tensors.Kernels;

/// <summary>
/// Per-thread packing buffers for <see cref="Gemm"/>, kept between calls: allocating and freeing half a megabyte
/// per matmul meant fresh pages (and their faults) on every layer of every forward. Each buffer only grows.
/// </summary>
internal static unsafe class PackScratch
{
    // Each holder frees its memory when its thread ends (see ThreadScratch).
    [ThreadStatic] private static ThreadScratch? t_x;
    [ThreadStatic] private static ThreadScratch? t_weight;
    [ThreadStatic] private static ThreadScratch? t_tile;
    [ThreadStatic] private static ThreadScratch? t_side; // byte data, kept in float units

    /// <summary>64-byte aligned room for <paramref name="floats"/> packed X values.</summary>
    public static float* X(long floats) => (t_x ??= new()).Floats(floats);

    /// <summary>64-byte aligned room for <paramref name="floats"/> packed weight values.</summary>
    public static float* Weight(long floats) => (t_weight ??= new()).Floats(floats);

    /// <summary>64-byte aligned room for <paramref name="bytes"/> bytes of side data (the sparse GEMM's row masks).</summary>
    public static byte* Bytes(long bytes) => (byte*)(t_side ??= new()).Floats((bytes + 3) / 4);

    /// <summary>One register tile for edge tiles.</summary>
    public static float* Tile() => (t_tile ??= new()).Floats(GemmMicroKernel.MR * GemmMicroKernel.NR);
}
