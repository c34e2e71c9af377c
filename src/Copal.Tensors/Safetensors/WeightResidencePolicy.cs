using Copal.Tensors.Backends.Cpu;

namespace Copal.Tensors.Safetensors;

/// <summary>How <see cref="WeightResidence.Auto"/> is decided: from the checkpoint's size and the memory available.</summary>
internal static class WeightResidencePolicy
{
    /// <summary>
    /// <see cref="WeightResidence.Auto"/> resolved for <paramref name="bytes"/> of files: read into memory when they
    /// take at most half of the memory available now (<see cref="HostMemory.AvailableBytes()"/>), so the copy leaves room
    /// for the work and for what is already loaded (a second model, another process).
    /// </summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes) =>
        Resolve(residence, bytes, residence == WeightResidence.Auto ? HostMemory.AvailableBytes() : 0);

    /// <summary>
    /// <see cref="Resolve(WeightResidence, long)"/> against a given amount of available memory. The copy must also
    /// leave the reserve that every copy and buffer is checked against (<see cref="HostBufferFit"/>): on a busy host
    /// (less available than twice the reserve) half of it would be refused part way through the load, where mapping
    /// the same weights runs.
    /// </summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes, long availableBytes) => residence switch
    {
        WeightResidence.Auto => bytes <= availableBytes / 2 && bytes <= availableBytes - HostBufferFit.ReserveBytes(HostMemory.LimitBytes)
            ? WeightResidence.Memory : WeightResidence.Mapped,
        _ => residence,
    };
}
