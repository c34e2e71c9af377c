namespace Copal.Tensors.Backends;

/// <summary>
/// Measures how fast a device reads its own memory. On a GPU a decode token streams the weights from the device's
/// memory, so that rate, not the host's (<see cref="Kernels.MemoryBandwidth"/>), is the ceiling its speed is set
/// against. The specified rate, where the driver gives it, is <see cref="BackendInfo.NominalMemoryBytesPerSecond"/>.
/// </summary>
internal interface IDeviceMemoryProbe
{
    /// <summary>
    /// Reads a device buffer of about <paramref name="bytes"/> bytes once per round with a streaming kernel, timed on
    /// the device (<see cref="IDeviceTimer"/>; by the wall clock around a synchronized launch where the driver refuses
    /// its markers), and returns bytes per second: the median of <paramref name="rounds"/> rounds after one warm-up
    /// round.
    /// </summary>
    double MeasureReadBytesPerSecond(long bytes, int rounds, CancellationToken cancellationToken = default);
}
