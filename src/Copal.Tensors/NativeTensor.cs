using System.Runtime.InteropServices;

namespace Copal.Tensors;

/// <summary>
/// A tensor that owns 64-byte-aligned native memory, for weights made at run time (a pruned layer) that a backend
/// must see as a <see cref="TensorView"/>, just like memory-mapped ones. Dispose frees the memory; views die with it.
/// </summary>
public sealed unsafe class NativeTensor : IDisposable
{
    private byte* _data;

    /// <summary>A zero-filled tensor of <paramref name="dtype"/> and <paramref name="shape"/>, aligned to 64 bytes.</summary>
    /// <exception cref="ArgumentException">A dimension is negative, or the bytes pass a long.</exception>
    public NativeTensor(string name, DType dtype, long[] shape)
    {
        // Checked before allocating: a negative dimension made a negative length, which Clear took as 2^64 − n bytes.
        ByteLength = TensorView.ElementCountOf(name, dtype, shape) * dtype.SizeOf();
        _data = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(ByteLength, 1), 64);
        NativeMemory.Clear(_data, (nuint)ByteLength);
        View = new TensorView(name, dtype, shape, _data, ByteLength);
    }

    /// <summary>A view of the memory; valid only until <see cref="Dispose"/>.</summary>
    public TensorView View { get; }
    /// <summary>Bytes of the tensor: elements · the dtype's size.</summary>
    public long ByteLength { get; }

    /// <summary>The raw bytes, for tensors under 2 GiB.</summary>
    public Span<byte> Bytes => new(_data, checked((int)ByteLength));

    /// <summary>Frees the memory; <see cref="View"/> and <see cref="Bytes"/> must not be used after. Disposing again does nothing.</summary>
    public void Dispose()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
