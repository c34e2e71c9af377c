namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// Refuses a CPU buffer or weight copy that would not fit in the host memory available now. A buffer is zeroed as it is made, so
/// every page is touched at once: past the memory there is, Linux's overcommit lets the allocation succeed and its
/// out-of-memory killer then ends the whole process (a server with every request in flight) with no message. Refused
/// here, it is a <see cref="DeviceOutOfMemoryException"/> that a server answers for the one request that grew (503)
/// and a command reports in one line.
/// </summary>
internal sealed class HostBufferFit
{
    /// <summary>Smaller buffers are not checked: reading the memory figures costs more than they can matter.</summary>
    public const long DefaultCheckedBytes = 1L << 20;

    /// <summary>The smallest buffer checked (tests lower it to reach a small model's caches).</summary>
    public long CheckedBytes { get; init; } = DefaultCheckedBytes;

    /// <summary>Host memory a new buffer may take, read again for each buffer checked (tests give a fixed amount).</summary>
    public Func<long> AvailableMemory { get; init; } = HostMemory.AvailableBytes;

    /// <summary>Kept free for the runtime, the kernel and other processes: 1/16 of the runtime's limit (three quarters of a cgroup's), at most 512 MiB.</summary>
    public static long ReserveBytes(long limitBytes) => Math.Min(512L << 20, limitBytes / 16);

    /// <summary>Throws when <paramref name="floats"/> would leave less than the reserve of the memory available now.</summary>
    public void Require(long floats) => RequireBytes(floats * sizeof(float), $"a buffer of {floats} floats");

    /// <summary>Whether <paramref name="bytes"/> would pass <see cref="RequireBytes"/> now.</summary>
    public bool Fits(long bytes) => bytes < CheckedBytes || bytes <= AvailableMemory() - ReserveBytes(HostMemory.LimitBytes);

    /// <summary>What a refused copy of weights says would need less: a shorter context frees none of it.</summary>
    public const string MapWeightsInstead = "--mmap on maps the weights instead of copying them, which needs no such room";

    /// <summary>
    /// Throws when <paramref name="bytes"/> of native memory that is written at once (a buffer zeroed, a weight
    /// copied) would leave less than the reserve of the memory available now; <paramref name="what"/> names it, and
    /// <paramref name="remedy"/>, where given, says what would need less (<see cref="DeviceOutOfMemoryException.Remedy"/>).
    /// </summary>
    public void RequireBytes(long bytes, string what, string? remedy = null)
    {
        if (bytes < CheckedBytes)
        {
            return;
        }
        long available = AvailableMemory(), reserve = ReserveBytes(HostMemory.LimitBytes);
        if (bytes > available - reserve)
        {
            throw new DeviceOutOfMemoryException(
                $"host memory is short: {ByteSize.Format(bytes)} for {what} did not fit ({ByteSize.Format(available)} available now, {ByteSize.Format(reserve)} of it kept free)")
            {
                OnHost = true,
                Remedy = remedy,
            };
        }
    }
}
