using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>The device's own read rate (<see cref="IDeviceMemoryProbe"/>), by <see cref="MemoryReadKernel"/>.</summary>
public sealed partial class IlgpuBackend : IDeviceMemoryProbe
{
    /// <inheritdoc/>
    public double MeasureReadBytesPerSecond(long bytes, int rounds, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 16L, nameof(bytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1, nameof(rounds));
        long quads = bytes / 16;
        using MemoryBuffer1D<Words4, Stride1D.Dense> data = AllocateOnDevice<Words4>(quads, "the memory-rate probe");
        // Written once before timing, so the driver has backed every page and the kernel reads defined values.
        data.View.MemSetToZero(_stream);
        KernelConfig config = StreamReadConfig(quads);
        using MemoryBuffer1D<uint, Stride1D.Dense> sink = AllocateOnDevice<uint>(config.GridDim.X * config.GroupDim.X, "the memory-rate probe's sink");
        var seconds = new List<double>();
        bool markers = true;
        for (int round = 0; round <= rounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double s;
            try
            {
                s = markers ? TimeOnDevice(config, data.View, sink.View) : TimeByWallClock(config, data.View, sink.View);
            }
            catch (Exception e) when (markers && e is not OutOfMemoryException and not DeviceOutOfMemoryException)
            {
                // Markers the driver refuses must not cost the rate: the wall clock around a synchronized launch of
                // a gigabyte's read is off only by the launch and the round trip, microseconds against a read of
                // a fraction of a millisecond or more.
                _timedStart?.Dispose();
                _timedStart = null;
                markers = false;
                s = TimeByWallClock(config, data.View, sink.View);
            }
            if (round > 0) // the first round pays for the first touch of the sink and caches
            {
                seconds.Add(s);
            }
        }
        seconds.Sort();
        return quads * 16.0 / seconds[seconds.Count / 2];
    }

    private double TimeOnDevice(KernelConfig config, ArrayView<Words4> data, ArrayView<uint> sink)
    {
        Begin();
        _kernels.StreamRead(config, data, sink);
        return End().DeviceSeconds;
    }

    private double TimeByWallClock(KernelConfig config, ArrayView<Words4> data, ArrayView<uint> sink)
    {
        _stream.Synchronize();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        _kernels.StreamRead(config, data, sink);
        _stream.Synchronize();
        return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>
    /// The XOR of every word of <paramref name="words"/> as the streaming-read kernel computes it (tests check it
    /// against the host's, which holds only when every quad was read exactly once).
    /// </summary>
    internal uint StreamReadChecksum(uint[] words)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (words.Length == 0 || words.Length % 4 != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"StreamReadChecksum: expected a positive multiple of 4 words, got {words.Length}"), nameof(words));
        }
        long quads = words.Length / 4;
        using MemoryBuffer1D<uint, Stride1D.Dense> data = AllocateOnDevice<uint>(words.Length, "the memory-rate probe");
        data.View.CopyFromCPU(_stream, words);
        KernelConfig config = StreamReadConfig(quads);
        var sums = new uint[config.GridDim.X * config.GroupDim.X];
        using MemoryBuffer1D<uint, Stride1D.Dense> sink = AllocateOnDevice<uint>(sums.Length, "the memory-rate probe's sink");
        _kernels.StreamRead(config, data.View.AsContiguous().Cast<Words4>(), sink.View);
        sink.View.CopyToCPU(_stream, sums);
        _stream.Synchronize();
        return sums.Aggregate(0u, (a, b) => a ^ b);
    }

    /// <summary>
    /// Enough row-sized groups to fill the device (its resident groups: eight 256-thread groups a multiprocessor on a
    /// GPU), each thread with at least four quads, so the kernel's four-load body runs.
    /// </summary>
    private KernelConfig StreamReadConfig(long quads) =>
        new(Math.Min(_plan.Groups(quads, 4 * _plan.RowGroup), 8 * _accelerator.NumMultiprocessors), _plan.RowGroup);
}
