using System.Globalization;

namespace Copal.Tensors;

/// <summary>The host memory this process may use, read one way wherever a size is checked or shown.</summary>
public static class HostMemory
{
    /// <summary>
    /// The GC's view of the machine: physical memory, or a container's or GCHeapHardLimit's limit where one is set,
    /// so a fit check in a 4 GiB container does not count the host's 256 GiB.
    /// </summary>
    public static long LimitBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Memory a new allocation may take now, read fresh: on Linux the kernel's MemAvailable (free memory plus
    /// reclaimable cache) and, in a memory-limited cgroup (a container), that limit less what the cgroup already uses
    /// (its page cache not counted, as the kernel reclaims it before it refuses memory), the least of the two; elsewhere, or
    /// where neither can be read, <see cref="LimitBytes"/>.
    /// </summary>
    public static long AvailableBytes() => OperatingSystem.IsLinux() ? AvailableBytes(LimitBytes, ReadSmallFile) : LimitBytes;

    /// <summary><see cref="AvailableBytes()"/> over files read by <paramref name="read"/> (null: absent or unreadable).</summary>
    internal static long AvailableBytes(long limit, Func<string, string?> read)
    {
        // Not capped by the runtime's limit where Linux's figures are read: that limit bounds the managed heap (75% of
        // a cgroup's limit by default, or GCHeapHardLimit), and what is checked here is native memory (CPU buffers, a
        // read-in checkpoint), which the kernel gives up to the cgroup's own limit.
        long? available = null;
        if (read("/proc/meminfo") is string meminfo && Field(meminfo, "MemAvailable:") is long kib)
        {
            available = kib * 1024;
        }
        if (CgroupHeadroom(read) is long headroom)
        {
            available = Math.Min(available ?? long.MaxValue, headroom);
        }
        return Math.Max(0, available ?? limit);
    }

    /// <summary>
    /// What the process's memory cgroup may still charge: the least, over its cgroup and that cgroup's parents, of a
    /// limit less its usage, page cache not counted; null without a limit. A parent's limit binds its children
    /// (a container's init moved to a leaf such as "0::/init" has "max" in its own folder), and a parent's other children
    /// use its room. The cgroup's folder comes from /proc/self/cgroup (v2's "0::/path", v1's "N:memory:/path"); a
    /// container that shows its own cgroup at the mount's root is read there, as the root is the last parent walked.
    /// </summary>
    internal static long? CgroupHeadroom(Func<string, string?> read)
    {
        string? own = read("/proc/self/cgroup");
        // v2's unified hierarchy first; a host without it (or a hybrid one, whose v2 mount holds no memory files) has v1's.
        if (Least("/sys/fs/cgroup", CgroupPath(own, "") ?? "/", "memory.max", "memory.current", "", parentLimitField: null, read) is (true, var v2))
        {
            return v2;
        }
        // v1 also keeps a parent's lower limit in memory.stat, for a parent the process cannot see.
        return Least("/sys/fs/cgroup/memory", CgroupPath(own, "memory") ?? "/", "memory.limit_in_bytes", "memory.usage_in_bytes",
            "total_", "hierarchical_memory_limit", read).Headroom;
    }

    /// <summary>The least headroom over the folder and its parents up to the mount; Found is false when no folder had the files.</summary>
    private static (bool Found, long? Headroom) Least(string mount, string path, string maxFile, string currentFile, string statPrefix,
        string? parentLimitField, Func<string, string?> read)
    {
        bool found = false;
        long? least = null;
        foreach (string folder in Folders(mount, path))
        {
            if (read(folder + "/" + maxFile) is string max && read(folder + "/" + currentFile) is string current)
            {
                found = true;
                if (Headroom(max, current, read(folder + "/memory.stat"), statPrefix, parentLimitField) is long headroom)
                {
                    least = Math.Min(least ?? long.MaxValue, headroom);
                }
            }
        }
        return (found, least);
    }

    /// <summary>The cgroup's folder under the mount, then each parent folder up to the mount itself.</summary>
    private static IEnumerable<string> Folders(string mount, string path)
    {
        string relative = path.Trim().TrimEnd('/');
        while (relative.Length > 0)
        {
            yield return mount + relative;
            relative = relative[..Math.Max(0, relative.LastIndexOf('/'))];
        }
        yield return mount;
    }

    /// <summary>The path of the line of /proc/self/cgroup whose controller list holds <paramref name="controller"/> ("" for v2's unified line).</summary>
    private static string? CgroupPath(string? cgroupFile, string controller)
    {
        foreach (string line in (cgroupFile ?? "").Split('\n'))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3 && (controller == "" ? parts[1] == "" : parts[1].Split(',').Contains(controller)))
            {
                return parts[2].Trim();
            }
        }
        return null;
    }

    /// <summary>
    /// Limit less usage plus the reclaimable file cache; null when the limit is "max" (v2) or v1's page-rounded
    /// 2⁶³ (no limit).
    /// </summary>
    private static long? Headroom(string max, string current, string? stat, string statPrefix, string? parentLimitField)
    {
        long limit = long.TryParse(max.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long own) ? own : long.MaxValue;
        if (stat is not null && parentLimitField is not null && Field(stat, parentLimitField + " ") is long parent)
        {
            limit = Math.Min(limit, parent);
        }
        if (limit >= long.MaxValue / 2 || !long.TryParse(current.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long used))
        {
            return null;
        }
        // The page cache, active or not (a mapped checkpoint's pages are active once each step reads them), is what the
        // kernel reclaims for a new allocation before it fails one, as MemAvailable counts it on a host without a limit.
        long cache = stat is null ? 0 : (Field(stat, statPrefix + "active_file ") ?? 0) + (Field(stat, statPrefix + "inactive_file ") ?? 0);
        return limit - Math.Max(0, used - cache);
    }

    /// <summary>The first number after <paramref name="name"/> at the start of a line ("MemAvailable:   1234 kB").</summary>
    private static long? Field(string text, string name)
    {
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal)
                && long.TryParse(line[name.Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                return value;
            }
        }
        return null;
    }

    private static string? ReadSmallFile(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
