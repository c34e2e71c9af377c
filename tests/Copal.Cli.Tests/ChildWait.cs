using System.Diagnostics;

namespace Copal.Cli.Tests;

/// <summary>
/// How a test waits for a child copal to end: a hang is judged by the child's own work, not by how fast the machine
/// runs it. A wall-clock limit of 3 minutes failed the ILGPU bench (about 4 s of CPU) on a machine loaded by four busy
/// loops beside other jobs, as CI's may be: it took 3 to 4 minutes there. A child that spins uses CPU, and
/// <see cref="CpuLimit"/> of it (some 40 times the heaviest run's) is a hang on any machine, however loaded. A child
/// that waits forever uses none: the wall clock catches it at <see cref="WallLimit"/>, under the blame collector's 10
/// minutes (test.runsettings), so that the child is killed and its command named before the test host is ended.
/// </summary>
internal static class ChildWait
{
    public static readonly TimeSpan CpuLimit = TimeSpan.FromMinutes(3);

    public static readonly TimeSpan WallLimit = TimeSpan.FromMinutes(9);

    /// <summary>
    /// Waits for <paramref name="p"/> to end: null once it has, or why it is taken for hung (the caller kills it)
    /// once it has used <paramref name="cpuLimit"/> of CPU or waited <paramref name="wallLimit"/>.
    /// </summary>
    public static string? ForExit(Process p, TimeSpan cpuLimit, TimeSpan wallLimit)
    {
        var waited = Stopwatch.StartNew();
        while (!p.WaitForExit(TimeSpan.FromMilliseconds(200)))
        {
            TimeSpan cpu;
            try
            {
                cpu = p.TotalProcessorTime;
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                continue; // it ended between the wait and the reading (Win32Exception: its /proc entry was already gone)
            }
            if (cpu >= cpuLimit)
            {
                return $"it used {cpu.TotalSeconds:F0} s of CPU without ending";
            }
            if (waited.Elapsed >= wallLimit)
            {
                return $"it waited {waited.Elapsed.TotalMinutes:F0} minutes using {cpu.TotalSeconds:F1} s of CPU";
            }
        }
        return null;
    }

    /// <inheritdoc cref="ForExit(Process, TimeSpan, TimeSpan)"/>
    public static string? ForExit(Process p) => ForExit(p, CpuLimit, WallLimit);
}
