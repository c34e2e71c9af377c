using System.Runtime.InteropServices;

namespace Copal.Tensors.Backends.Cpu;

/// <summary>f32 elements in zeroed native memory aligned to 64 bytes (a cache line, and a Vector512).</summary>
internal sealed unsafe class CpuBuffer : DeviceBuffer
{
    private float* _pointer;

    /// <summary>Allocates <paramref name="length"/> zeroed floats.</summary>
    public CpuBuffer(long length) : base(length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        nuint bytes = (nuint)Math.Max(1, length) * sizeof(float);
        _pointer = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_pointer, bytes);
    }

    /// <summary>Frees the memory of a buffer that was never disposed.</summary>
    ~CpuBuffer() => Release();

    /// <summary>The first element; valid until Dispose.</summary>
    public float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _pointer;
        }
    }

    /// <summary>All elements; throws for buffers of 2³¹ floats or more (use <see cref="Pointer"/>).</summary>
    public Span<float> Span => new(Pointer, checked((int)Length));

    /// <summary>Elements [offset, offset + count).</summary>
    public Span<float> Slice(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset + count > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"range [{offset}, {offset + count}) outside buffer of {Length} floats");
        }
        return new Span<float>(Pointer + offset, checked((int)count));
    }

    /// <inheritdoc/>
    protected override void Release()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
