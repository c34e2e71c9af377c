using System.Buffers;
using System.Runtime.InteropServices;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Bytes a sparse matrix reads: either owned (aligned native memory freed on dispose) or borrowed from a
/// <see cref="TensorView"/> whose memory the caller keeps alive (zero-copy load).
/// </summary>
internal sealed unsafe class NativeBlock : IDisposable
{
    private byte* _data;
    private readonly bool _owned;

    private NativeBlock(byte* data, long length, bool owned)
    {
        _data = data;
        Length = length;
        _owned = owned;
    }

    public long Length { get; }

    /// <summary>
    /// Bytes of owned blocks alive in the process: what sparse matrices hold beyond the tensors they borrow (decoded
    /// N:M rank indices, converted weights). A pass over a checkpoint's weights that needs one at a time must hold one
    /// weight's, not the model's; tests read this to check it.
    /// </summary>
    internal static long OwnedBytes => Interlocked.Read(ref s_ownedBytes);

    private static long s_ownedBytes;

    public byte* Data => _data;

    /// <summary>Zero-filled owned memory, 64-byte aligned (at least one byte so the pointer is never null).</summary>
    public static NativeBlock Allocate(long length)
    {
        byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), 64);
        NativeMemory.Clear(p, (nuint)Math.Max(length, 1));
        Interlocked.Add(ref s_ownedBytes, length);
        return new NativeBlock(p, length, owned: true);
    }

    public static NativeBlock Borrow(TensorView view) => new(view.Data, view.ByteLength, owned: false);

    public Span<byte> Span => new(_data, checked((int)Length));

    public Span<T> AsSpan<T>() where T : unmanaged => new(_data, checked((int)(Length / sizeof(T))));

    /// <summary>A memory handle over the bytes, valid while this block lives (for writers that take Memory).</summary>
    public ReadOnlyMemory<byte> Memory => new Manager(_data, checked((int)Length)).Memory;

    public void Dispose()
    {
        if (_owned && _data != null)
        {
            NativeMemory.AlignedFree(_data);
            Interlocked.Add(ref s_ownedBytes, -Length);
        }
        _data = null;
    }

    private sealed class Manager(byte* data, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(data, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(data + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
