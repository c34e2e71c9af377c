using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Testing;

/// <summary>
/// A one-thread CPU backend that counts the floats of every buffer allocated, so a test sees what a run allocates
/// (rows of activations, logits, cache) from what it asked the backend for, not from the process's heap.
/// </summary>
public sealed class AllocationCountingBackend() : CpuBackend(1), IBackend
{
    private long _floats;

    /// <summary>Floats allocated since the start or the last <see cref="Reset"/>.</summary>
    public long Floats => Interlocked.Read(ref _floats);

    public void Reset() => Interlocked.Exchange(ref _floats, 0);

    DeviceBuffer IBackend.Allocate(long length)
    {
        Interlocked.Add(ref _floats, length);
        return Allocate(length);
    }
}
