namespace Copal.Tensors.Backends.Gpu;

/// <summary>
/// One kernel argument as raw bits: a device pointer (a cl_mem handle or a CUdeviceptr, 8 bytes), an int or a
/// float (4 bytes). Both APIs take an argument as the address and size of its value, so one representation serves.
/// </summary>
internal readonly struct KernelArg
{
    private KernelArg(ulong bits, int size)
    {
        Bits = bits;
        Size = size;
    }

    /// <summary>The value, in the low <see cref="Size"/> bytes.</summary>
    public ulong Bits { get; }

    /// <summary>Bytes the kernel parameter occupies.</summary>
    public int Size { get; }

    public static KernelArg Pointer(ulong address) => new(address, sizeof(ulong));

    public static KernelArg Int(int value) => new((uint)value, sizeof(int));

    public static KernelArg Float(float value) => new(BitConverter.SingleToUInt32Bits(value), sizeof(float));

    public static implicit operator KernelArg(int value) => Int(value);

    public static implicit operator KernelArg(float value) => Float(value);
}

/// <summary>Work-group counts and sizes of a launch, in up to two dimensions.</summary>
internal readonly record struct LaunchShape(int GroupsX, int GroupsY, int LocalX, int LocalY)
{
    /// <summary>Threads per work-group for one-thread-per-element kernels and row reductions (GROUP_SIZE in common.cl).</summary>
    public const int GroupSize = 256;

    /// <summary>One thread per element over <paramref name="count"/> elements.</summary>
    public static LaunchShape Linear(int count) => new((count + GroupSize - 1) / GroupSize, 1, GroupSize, 1);

    /// <summary>One <see cref="GroupSize"/>-thread work-group per row.</summary>
    public static LaunchShape PerRow(int rows) => new(rows, 1, GroupSize, 1);

    /// <summary>Square tiles of <paramref name="tile"/>² threads covering an x × y grid of outputs.</summary>
    public static LaunchShape Tiled(int x, int y, int tile) => new((x + tile - 1) / tile, (y + tile - 1) / tile, tile, tile);
}
