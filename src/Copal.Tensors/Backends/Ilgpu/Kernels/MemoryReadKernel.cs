using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Streams a buffer once, the way a decode token streams its weights, to measure the device's own read rate (its
/// ceiling for decode). Each thread reads 16-byte quads with a grid-stride loop, so a warp reads consecutive quads,
/// four loads in flight, and stores the XOR of every word it read: no load is dead code, and the XOR of the sink
/// tells a test whether every quad was read exactly once.
/// </summary>
internal static class MemoryReadKernel
{
    /// <param name="data">The quads to read.</param>
    /// <param name="sink">One word per launched thread.</param>
    public static void StreamRead(ArrayView<Words4> data, ArrayView<uint> sink)
    {
        int groupSize = Group.DimX;
        int thread = (Grid.IdxX * groupSize) + Group.IdxX;
        long stride = (long)Grid.DimX * groupSize;
        long length = data.Length;
        uint acc = 0u;
        long i = thread;
        for (; i + (3 * stride) < length; i += 4 * stride)
        {
            Words4 a = data[i];
            Words4 b = data[i + stride];
            Words4 c = data[i + (2 * stride)];
            Words4 d = data[i + (3 * stride)];
            acc ^= Fold(a) ^ Fold(b) ^ Fold(c) ^ Fold(d);
        }
        for (; i < length; i += stride)
        {
            acc ^= Fold(data[i]);
        }
        sink[thread] = acc;
    }

    private static uint Fold(Words4 w) => w.A ^ w.B ^ w.C ^ w.D;
}
