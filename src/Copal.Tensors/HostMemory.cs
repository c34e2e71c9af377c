namespace Copal.Tensors;

/// <summary>The host memory this process may use, read one way wherever a size is checked or shown.</summary>
public static class HostMemory
{
    /// <summary>
    /// The GC's view of the machine: physical memory, or a container's or GCHeapHardLimit's limit where one is set,
    /// so a fit check in a 4 GiB container does not count the host's 256 GiB.
    /// </summary>
    public static long LimitBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
}
