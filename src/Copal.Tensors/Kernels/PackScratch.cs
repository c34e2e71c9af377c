using System.Runtime.InteropServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Per-thread packing buffers for <see cref="Gemm"/>, kept between calls: allocating and freeing half a megabyte
/// per matmul meant fresh pages (and their faults) on every layer of every forward. Each buffer only grows.
/// </summary>
internal static unsafe class PackScratch
{
    [ThreadStatic] private static float* t_x;
    [ThreadStatic] private static long t_xFloats;
    [ThreadStatic] private static float* t_weight;
    [ThreadStatic] private static long t_weightFloats;
    [ThreadStatic] private static float* t_tile;
    [ThreadStatic] private static float* t_side; // byte data, kept in float units so it shares Grow
    [ThreadStatic] private static long t_sideFloats;

    /// <summary>64-byte aligned room for <paramref name="floats"/> packed X values.</summary>
    public static float* X(long floats) => Grow(ref t_x, ref t_xFloats, floats);

    /// <summary>64-byte aligned room for <paramref name="floats"/> packed weight values.</summary>
    public static float* Weight(long floats) => Grow(ref t_weight, ref t_weightFloats, floats);

    /// <summary>64-byte aligned room for <paramref name="bytes"/> bytes of side data (the sparse GEMM's row masks).</summary>
    public static byte* Bytes(long bytes) => (byte*)Grow(ref t_side, ref t_sideFloats, (bytes + 3) / 4);

    /// <summary>One register tile for edge tiles.</summary>
    public static float* Tile()
    {
        if (t_tile == null)
        {
            t_tile = (float*)NativeMemory.AlignedAlloc((nuint)(GemmMicroKernel.MR * GemmMicroKernel.NR * sizeof(float)), 64);
        }
        return t_tile;
    }

    private static float* Grow(ref float* buffer, ref long capacity, long floats)
    {
        if (floats > capacity)
        {
            NativeMemory.AlignedFree(buffer);
            buffer = null;
            capacity = 0;
            buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            capacity = floats;
        }
        return buffer;
    }
}
