using System.Runtime.InteropServices;

namespace Copal.Tensors.Tests.Sparse;

/// <summary>Bytes in native memory exposed as a <see cref="TensorView"/>, as a mapped file would give them.</summary>
internal sealed unsafe class PinnedTensor : IDisposable
{
    private readonly byte* _data;

    public PinnedTensor(string name, DType dtype, long[] shape, ReadOnlySpan<byte> bytes)
    {
        // Exact size, no slack: the kernels must not read past a borrowed tensor's end.
        _data = (byte*)NativeMemory.Alloc((nuint)Math.Max(bytes.Length, 1));
        bytes.CopyTo(new Span<byte>(_data, bytes.Length));
        View = new TensorView(name, dtype, shape, _data, bytes.Length);
    }

    public TensorView View { get; }

    public void Dispose() => NativeMemory.Free(_data);
}
