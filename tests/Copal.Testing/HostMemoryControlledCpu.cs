using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Testing;

/// <summary>
/// A CPU backend whose host memory a test sets: each buffer of at least the given size is checked against
/// <see cref="FreeBytes"/> beyond the reserve, as the real backend checks it against what the machine has left.
/// </summary>
public sealed class HostMemoryControlledCpu : IDisposable
{
    public HostMemoryControlledCpu(long checkedBytes) =>
        Backend = new CpuBackend(threads: 1)
        {
            BufferFit = new HostBufferFit
            {
                CheckedBytes = checkedBytes,
                AvailableMemory = () => HostBufferFit.ReserveBytes(HostMemory.LimitBytes) + FreeBytes,
            },
        };

    /// <summary>Host memory free beyond the reserve; plenty until a test lowers it.</summary>
    public long FreeBytes { get; set; } = 1L << 40;

    public CpuBackend Backend { get; }

    public void Dispose() => Backend.Dispose();
}
