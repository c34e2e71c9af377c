using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// Device-side timing (<see cref="IDeviceTimer"/>) from ILGPU's profiling markers: CUDA events, OpenCL event
/// profiling. The CPU accelerator runs each launch to its end before returning, so it needs no hold and its time is
/// the host's, taken from the monotonic <see cref="Stopwatch"/>: its profiling markers read the wall clock
/// (DateTime.UtcNow), which a clock step (NTP, a resumed VM) can move backwards, giving a span of zero or less.
/// </summary>
public sealed partial class IlgpuBackend : IDeviceTimer
{
    /// <summary>How long a hold lasts; doubled (up to <see cref="MaxHoldSeconds"/>) each time issuing outlasts one.</summary>
    private double _holdSeconds = 200e-6;
    private const double MaxHoldSeconds = 0.1;
    private double _holdStepSeconds;
    private MemoryBuffer1D<float, Stride1D.Dense>? _holdSink;
    private ProfilingMarker? _timedStart;
    private long _issueStart;

    /// <summary>Whether launches are queued (a GPU) rather than run to their end as they are issued (the CPU accelerator).</summary>
    private bool LaunchesAreQueued => _accelerator.AcceleratorType != AcceleratorType.CPU;

    /// <inheritdoc/>
    public void Begin()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_timedStart is not null)
        {
            throw new InvalidOperationException("Begin: a timed span is already open; call End first");
        }
        _stream.Synchronize();
        _issueStart = Stopwatch.GetTimestamp();
        if (LaunchesAreQueued)
        {
            Hold(_holdSeconds);
        }
        _timedStart = _stream.AddProfilingMarker();
    }

    /// <inheritdoc/>
    public DeviceTiming End()
    {
        ProfilingMarker start = _timedStart ?? throw new InvalidOperationException("End: no timed span is open; call Begin first");
        _timedStart = null;
        using (start)
        {
            using ProfilingMarker end = _stream.AddProfilingMarker();
            double issued = Stopwatch.GetElapsedTime(_issueStart).TotalSeconds;
            end.Synchronize();
            // Launches not queued ran as they were issued: the span is the host's time since Begin.
            double seconds = LaunchesAreQueued ? end.MeasureFrom(start).TotalSeconds : Stopwatch.GetElapsedTime(_issueStart).TotalSeconds;
            // The hold started no earlier than _issueStart, so issuing that ended within it ended before the device
            // reached the start marker.
            bool covered = !LaunchesAreQueued || issued < _holdSeconds;
            if (!covered)
            {
                _holdSeconds = Math.Min(2 * _holdSeconds, MaxHoldSeconds);
            }
            return new DeviceTiming(seconds, covered);
        }
    }

    /// <summary>Queues a one-thread kernel that keeps the device busy for about <paramref name="seconds"/>.</summary>
    private void Hold(double seconds)
    {
        if (_holdStepSeconds == 0)
        {
            CalibrateHold();
        }
        int steps = (int)Math.Clamp(seconds / _holdStepSeconds, 1, int.MaxValue);
        _kernels.Hold(new Index1D(1), _holdSink!.View, steps, 0.999f, 0.001f);
    }

    /// <summary>Times holds of growing length until one lasts at least 100 µs, and keeps its time per step.</summary>
    private void CalibrateHold()
    {
        if (_holdSink is null)
        {
            _holdSink = _accelerator.Allocate1D<float>(1);
            _holdSink.View.MemSetToZero(_stream); // the hold reads it: a defined start, though only its time matters
        }
        for (int steps = 1 << 12; ; steps *= 4)
        {
            _stream.Synchronize();
            using ProfilingMarker start = _stream.AddProfilingMarker();
            _kernels.Hold(new Index1D(1), _holdSink.View, steps, 0.999f, 0.001f);
            using ProfilingMarker end = _stream.AddProfilingMarker();
            end.Synchronize();
            double seconds = end.MeasureFrom(start).TotalSeconds;
            if (seconds >= 100e-6 || steps >= 1 << 26)
            {
                _holdStepSeconds = Math.Max(seconds, 1e-9) / steps;
                return;
            }
        }
    }
}
