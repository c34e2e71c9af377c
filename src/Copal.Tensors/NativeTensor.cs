using System.Runtime.InteropServices;

namespace Copal.Tensors;

/// <summary>
/// A tensor that owns 64-byte-aligned native memory, for weights made at run time (a pruned layer) that a backend
/// must see as a <see cref="TensorView"/>, just like memory-mapped ones. Dispose frees the memory; views die with it.
/// </summary>
public sealed unsafe class NativeTensor : IDisposable
{
    private byte* _data;

    public NativeTensor(string name, DType dtype, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = shape.Aggregate(1L, (a, d) => a * d);
        ByteLength = count * dtype.SizeOf();
        _data = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(ByteLength, 1), 64);
        NativeMemory.Clear(_data, (nuint)ByteLength);
        View = new TensorView(name, dtype, shape, _data, ByteLength);
    }

    public TensorView View { get; }
    public long ByteLength { get; }

    /// <summary>The raw bytes, for tensors under 2 GiB.</summary>
    public Span<byte> Bytes => new(_data, checked((int)ByteLength));

    public void Dispose()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
