namespace Copal.Tensors.Backends;

/// <summary>
/// A backend whose device can time its own queue, so a profile can tell the device's time on an op from the host's
/// time issuing it. On a GPU the two differ: a launch returns once the op is queued, and a decode step of hundreds of
/// small ops can be bound by issuing them rather than by the kernels, which a wall clock around each synchronized op
/// cannot show.
/// </summary>
public interface IDeviceTimer
{
    /// <summary>
    /// Waits for the queue, holds the device busy, and queues a start marker: the ops issued until <see cref="End"/>
    /// are timed. The hold lasts longer than issuing an op takes, so the device meets the start marker only once
    /// they are all queued and runs them back to back: the time between the markers is theirs, not the host's.
    /// </summary>
    void Begin();

    /// <summary>Queues the end marker, waits for it, and returns the time between the markers.</summary>
    DeviceTiming End();
}

/// <summary>What <see cref="IDeviceTimer.End"/> measured.</summary>
/// <param name="DeviceSeconds">Seconds between the start and end markers on the device.</param>
/// <param name="Covered">
/// Whether the hold outlasted the issuing. When it did not, the device waited for the host within the timed span,
/// so <paramref name="DeviceSeconds"/> includes some issue time; the timer lengthens its hold for the next span.
/// </param>
public readonly record struct DeviceTiming(double DeviceSeconds, bool Covered);
