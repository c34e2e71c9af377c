using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>The streaming-read probe that bench judges decode against.</summary>
public sealed class MemoryBandwidthTests
{
    private static readonly long Reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);

    /// <summary>
    /// The probe fills a buffer of 512 MiB by default, every page touched: `copal bench` in a container of 600 MiB,
    /// beside a model read into memory, was ended by the out-of-memory killer with no message. The buffer is checked
    /// as a CPU buffer is, and refused in one line.
    /// </summary>
    [Fact]
    public void A_probe_buffer_that_would_eat_into_the_reserve_is_refused_before_it_is_filled()
    {
        const long bytes = 4L << 20;
        var e = Assert.Throws<DeviceOutOfMemoryException>(() =>
            MemoryBandwidth.MeasureRead(bytes, threads: 1, repeats: 1, new HostBufferFit { AvailableMemory = () => Reserve + (bytes / 2) }));
        Assert.True(e.OnHost);
        Assert.StartsWith("host memory is short: 4.0 MiB for the streaming-read probe's buffer did not fit (", e.Message, StringComparison.Ordinal);
        // Not a command's general advice (a compact checkpoint, a shorter context): `bench kernels` loads no model.
        Assert.Equal("the probe reads a buffer of that size to measure the memory bandwidth, and needs that much free", e.Remedy);

        double rate = MemoryBandwidth.MeasureRead(bytes, threads: 1, repeats: 1, new HostBufferFit { AvailableMemory = () => Reserve + (2 * bytes) });
        Assert.True(rate > 0, $"{rate} GB/s");
    }
}
