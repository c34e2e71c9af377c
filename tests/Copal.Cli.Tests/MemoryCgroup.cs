namespace Copal.Cli.Tests;

/// <summary>A v1 memory cgroup with a limit, made for one child process and removed after it.</summary>
public sealed class MemoryCgroup : IDisposable
{
    private const string Root = "/sys/fs/cgroup/memory";

    private MemoryCgroup(string folder) => Folder = folder;

    /// <summary>The cgroup's folder: a shell joins it by writing its process id into cgroup.procs.</summary>
    public string Folder { get; }

    /// <summary>The shell setup that moves the shell (and so the copal it execs) into the cgroup.</summary>
    public string JoinCommand => $"echo $$ > {Folder}/cgroup.procs";

    /// <summary>Whether a cgroup can be made here: tried, then removed.</summary>
    public static bool Allowed()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(Path.Combine(Root, "memory.limit_in_bytes")))
        {
            return false;
        }
        try
        {
            using MemoryCgroup probe = Create(64L << 20);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A new cgroup whose processes may use at most <paramref name="limitBytes"/>.</summary>
    public static MemoryCgroup Create(long limitBytes)
    {
        string folder = Path.Combine(Root, $"copal-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var cgroup = new MemoryCgroup(folder);
        try
        {
            File.WriteAllText(Path.Combine(folder, "memory.limit_in_bytes"), limitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return cgroup;
        }
        catch
        {
            cgroup.Dispose();
            throw;
        }
    }

    /// <summary>Removes the cgroup; its processes have ended.</summary>
    public void Dispose() => Directory.Delete(Folder);
}
