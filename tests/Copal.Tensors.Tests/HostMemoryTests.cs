using Copal.Testing;

namespace Copal.Tensors.Tests;

/// <summary>
/// The memory a new allocation may take, read from Linux's files: given as text here, so every layout (no cgroup, a
/// cgroup v2 or v1 limit, a parent's limit, a container that shows its own cgroup at the root) is checked on any machine.
/// </summary>
public sealed class HostMemoryTests
{
    private const long GiB = 1L << 30;
    private const string MemInfo = "MemTotal:       24683748 kB\nMemFree:         1000000 kB\nMemAvailable:   20971520 kB\nBuffers:  1 kB\n";

    private static Func<string, string?> Files(params (string Path, string Text)[] files) =>
        path => files.FirstOrDefault(f => f.Path == path).Text;

    /// <summary>
    /// The runtime's limit bounds the managed heap (GCHeapHardLimit, or 75% of a cgroup's limit), not the native memory
    /// a CPU buffer or a read-in checkpoint takes: it is no cap where Linux's own figures are read.
    /// </summary>
    [Fact]
    public void Without_a_cgroup_limit_it_is_MemAvailable_whatever_the_runtime_heap_limit()
    {
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "0::/\n"),
            ("/sys/fs/cgroup/memory.max", "max\n"), ("/sys/fs/cgroup/memory.current", "123456\n"));
        Assert.Equal(20 * GiB, HostMemory.AvailableBytes(64 * GiB, read));
        Assert.Equal(20 * GiB, HostMemory.AvailableBytes(8 * GiB, read));
        Assert.Null(HostMemory.CgroupHeadroom(read));
    }

    /// <summary>
    /// In a 2 GiB cgroup the GC's limit reads 1.5 GiB; as a cap it refused a 1.56 GiB buffer with 30 MiB of the cgroup
    /// used, which the kernel makes.
    /// </summary>
    [Fact]
    public void In_a_cgroup_the_runtime_heap_limit_of_three_quarters_is_no_cap()
    {
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "4:memory:/job\n0::/\n"),
            ("/sys/fs/cgroup/memory/job/memory.limit_in_bytes", $"{2 * GiB}\n"),
            ("/sys/fs/cgroup/memory/job/memory.usage_in_bytes", $"{30L << 20}\n"));
        Assert.Equal((2 * GiB) - (30L << 20), HostMemory.AvailableBytes(3 * GiB / 2, read));
    }

    [Fact]
    public void A_cgroup_v2_limit_counts_what_the_cgroup_uses_less_its_inactive_file_cache()
    {
        // The process's own cgroup folder, named by /proc/self/cgroup: 6 GiB limit, 5 GiB used, 1 GiB of it reclaimable cache.
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "0::/system.slice/copal.service\n"),
            ("/sys/fs/cgroup/system.slice/copal.service/memory.max", $"{6 * GiB}\n"),
            ("/sys/fs/cgroup/system.slice/copal.service/memory.current", $"{5 * GiB}\n"),
            ("/sys/fs/cgroup/system.slice/copal.service/memory.stat", $"anon {4 * GiB}\nactive_file 0\ninactive_file {GiB}\n"));
        Assert.Equal(2 * GiB, HostMemory.CgroupHeadroom(read));
        Assert.Equal(2 * GiB, HostMemory.AvailableBytes(64 * GiB, read));
    }

    /// <summary>
    /// A process in a child of the limited cgroup: v2 keeps no parent's limit in the child's files, and a container's
    /// init that enables controllers must move itself to a leaf ("0::/init") under the container's limited root.
    /// </summary>
    [Fact]
    public void A_cgroup_v2_limit_on_a_parent_counts_where_the_process_s_own_cgroup_has_none()
    {
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "0::/init\n"),
            ("/sys/fs/cgroup/init/memory.max", "max\n"), ("/sys/fs/cgroup/init/memory.current", $"{GiB}\n"),
            ("/sys/fs/cgroup/init/memory.stat", "inactive_file 0\n"),
            ("/sys/fs/cgroup/memory.max", $"{4 * GiB}\n"), ("/sys/fs/cgroup/memory.current", $"{3 * GiB}\n"),
            ("/sys/fs/cgroup/memory.stat", "inactive_file 0\n"));
        Assert.Equal(1 * GiB, HostMemory.CgroupHeadroom(read));
    }

    /// <summary>The tightest of the cgroup and its parents: a parent's siblings may use what its limit leaves.</summary>
    [Fact]
    public void The_least_headroom_of_the_cgroup_and_its_parents_counts()
    {
        var read = Files(("/proc/self/cgroup", "4:memory:/jobs/7\n0::/\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.limit_in_bytes", $"{4 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.usage_in_bytes", $"{GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/memory.limit_in_bytes", $"{8 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/memory.usage_in_bytes", $"{7 * GiB}\n"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("/sys/fs/cgroup/memory/memory.usage_in_bytes", $"{20 * GiB}\n"));
        Assert.Equal(1 * GiB, HostMemory.CgroupHeadroom(read));
    }

    /// <summary>
    /// A mapped checkpoint's pages are the cgroup's page cache, active once each step reads them: the kernel reclaims
    /// them for a new buffer as MemAvailable counts them on a host without a limit. Counted as used, a container whose
    /// --mmap auto mapped the model (it maps when memory is short) refused every buffer the cache had room for.
    /// </summary>
    [Fact]
    public void A_cgroups_page_cache_active_or_not_counts_as_room()
    {
        var v2 = Files(("/proc/self/cgroup", "0::/\n"), ("/sys/fs/cgroup/memory.max", $"{8 * GiB}\n"),
            ("/sys/fs/cgroup/memory.current", $"{7 * GiB}\n"),
            ("/sys/fs/cgroup/memory.stat", $"anon {GiB}\nfile {6 * GiB}\nactive_file {5 * GiB}\ninactive_file {GiB}\n"));
        Assert.Equal(7 * GiB, HostMemory.CgroupHeadroom(v2));
        var v1 = Files(("/proc/self/cgroup", "4:memory:/jobs/7\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.limit_in_bytes", $"{8 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.usage_in_bytes", $"{7 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.stat", $"active_file 0\ninactive_file 0\ntotal_active_file {5 * GiB}\ntotal_inactive_file {GiB}\n"));
        Assert.Equal(7 * GiB, HostMemory.CgroupHeadroom(v1));
    }

    [Fact]
    public void A_container_that_shows_its_own_cgroup_at_the_root_is_read_there()
    {
        // Inside a cgroup namespace /proc/self/cgroup may still name the host's path, which the container does not have.
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "0::/docker/abc\n"),
            ("/sys/fs/cgroup/memory.max", $"{4 * GiB}\n"), ("/sys/fs/cgroup/memory.current", $"{3 * GiB}\n"));
        Assert.Equal(1 * GiB, HostMemory.AvailableBytes(64 * GiB, read));
    }

    [Fact]
    public void A_cgroup_v1_limit_takes_a_parents_lower_limit_from_memory_stat()
    {
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "4:memory:/jobs/7\n3:cpuset:/\n0::/\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.limit_in_bytes", "9223372036854771712\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.usage_in_bytes", $"{3 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.stat", $"cache 0\ninactive_file 0\nhierarchical_memory_limit {8 * GiB}\ntotal_inactive_file {GiB}\n"));
        Assert.Equal(6 * GiB, HostMemory.CgroupHeadroom(read));
    }

    [Fact]
    public void A_cgroup_v1_without_any_limit_leaves_MemAvailable()
    {
        var read = Files(("/proc/meminfo", MemInfo), ("/proc/self/cgroup", "4:memory:/jobs/7\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.limit_in_bytes", "9223372036854771712\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.usage_in_bytes", $"{3 * GiB}\n"),
            ("/sys/fs/cgroup/memory/jobs/7/memory.stat", "hierarchical_memory_limit 9223372036854771712\ntotal_inactive_file 0\n"));
        Assert.Null(HostMemory.CgroupHeadroom(read));
        Assert.Equal(20 * GiB, HostMemory.AvailableBytes(64 * GiB, read));
    }

    [Fact]
    public void Usage_past_the_limit_leaves_nothing_rather_than_a_negative_amount() =>
        Assert.Equal(0, HostMemory.AvailableBytes(64 * GiB, Files(("/sys/fs/cgroup/memory.max", $"{GiB}\n"), ("/sys/fs/cgroup/memory.current", $"{2 * GiB}\n"))));

    [Fact]
    public void No_files_at_all_leave_the_runtime_limit() =>
        Assert.Equal(8 * GiB, HostMemory.AvailableBytes(8 * GiB, _ => null));

    [LinuxFact]
    public void This_machine_has_some_memory_available() =>
        Assert.InRange(HostMemory.AvailableBytes(), 1, long.MaxValue);
}
