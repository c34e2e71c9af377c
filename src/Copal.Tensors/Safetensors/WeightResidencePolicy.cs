namespace Copal.Tensors.Safetensors;

/// <summary>How <see cref="WeightResidence.Auto"/> is decided: from the checkpoint's size and the memory available.</summary>
public static class WeightResidencePolicy
{
    /// <summary>
    /// <see cref="WeightResidence.Auto"/> resolved for <paramref name="bytes"/> of files: read into memory when they
    /// take at most half of the memory available now (<see cref="HostMemory.AvailableBytes()"/>), so the copy leaves room
    /// for the work and for what is already loaded (a second model, another process).
    /// </summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes) =>
        Resolve(residence, bytes, residence == WeightResidence.Auto ? HostMemory.AvailableBytes() : 0);

    /// <summary><see cref="Resolve(WeightResidence, long)"/> against a given amount of available memory.</summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes, long availableBytes) => residence switch
    {
        WeightResidence.Auto => bytes <= availableBytes / 2 ? WeightResidence.Memory : WeightResidence.Mapped,
        _ => residence,
    };
}
