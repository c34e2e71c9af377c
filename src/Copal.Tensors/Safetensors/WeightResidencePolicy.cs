namespace Copal.Tensors.Safetensors;

/// <summary>How <see cref="WeightResidence.Auto"/> is decided: from the checkpoint's size and the memory available.</summary>
public static class WeightResidencePolicy
{
    /// <summary>
    /// <see cref="WeightResidence.Auto"/> resolved for <paramref name="bytes"/> of files: read into memory when they
    /// take at most half of the memory available now (<see cref="AvailableMemoryBytes"/>), so the copy leaves room
    /// for the work and for what is already loaded (a second model, another process).
    /// </summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes) =>
        Resolve(residence, bytes, residence == WeightResidence.Auto ? AvailableMemoryBytes() : 0);

    /// <summary><see cref="Resolve(WeightResidence, long)"/> against a given amount of available memory.</summary>
    public static WeightResidence Resolve(WeightResidence residence, long bytes, long availableBytes) => residence switch
    {
        WeightResidence.Auto => bytes <= availableBytes / 2 ? WeightResidence.Memory : WeightResidence.Mapped,
        _ => residence,
    };

    /// <summary>
    /// Memory a new copy may take: on Linux the kernel's MemAvailable (free memory plus reclaimable cache), capped by
    /// what the runtime may use (a container's limit); elsewhere the latter.
    /// </summary>
    public static long AvailableMemoryBytes()
    {
        long limit = HostMemory.LimitBytes;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                foreach (string line in File.ReadLines("/proc/meminfo"))
                {
                    // "MemAvailable:   12345678 kB"
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                        && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], System.Globalization.NumberStyles.None,
                            System.Globalization.CultureInfo.InvariantCulture, out long kib))
                    {
                        return Math.Min(limit, kib * 1024);
                    }
                }
            }
        }
        catch (IOException)
        {
            // No /proc: fall back to the runtime's limit.
        }
        catch (UnauthorizedAccessException)
        {
        }
        return limit;
    }
}
