using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Tensors.Tests.Backends.Cpu;

/// <summary>
/// A CPU buffer past the host memory available is refused with a <see cref="DeviceOutOfMemoryException"/> that says
/// so, before it is made (and zeroed, every page touched, which past the memory there is ends the process).
/// </summary>
public sealed class HostBufferFitTests
{
    private static readonly long Reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);

    [Fact]
    public void A_buffer_that_would_eat_into_the_reserve_is_refused_and_named()
    {
        // 2 MiB free beyond the reserve: a buffer of 4 MiB does not fit.
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => Reserve + (2L << 20) } };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(1L << 20));
        Assert.True(e.OnHost);
        Assert.StartsWith("host memory is short: 4.0 MiB for a buffer of 1048576 floats did not fit (", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{ByteSize.Format(Reserve)} of it kept free", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_buffer_that_leaves_the_reserve_is_made()
    {
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => Reserve + (2L << 20) } };
        using DeviceBuffer b = backend.Allocate(3L << 17); // 1.5 MiB, checked, within the 2 MiB beyond the reserve
        Assert.Equal(3L << 17, b.Length);
    }

    [Fact]
    public void Small_buffers_are_not_checked_and_the_memory_is_read_again_for_each_large_one()
    {
        int reads = 0;
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => { reads++; return 0; } } };
        using DeviceBuffer small = backend.Allocate((HostBufferFit.DefaultCheckedBytes / sizeof(float)) - 1);
        Assert.Equal(0, reads);
        Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(HostBufferFit.DefaultCheckedBytes / sizeof(float)));
        Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(HostBufferFit.DefaultCheckedBytes / sizeof(float)));
        Assert.Equal(2, reads);
    }
}
