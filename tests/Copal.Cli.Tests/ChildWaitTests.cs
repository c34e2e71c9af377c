using System.Diagnostics;

namespace Copal.Cli.Tests;

/// <summary>
/// <see cref="ChildWait"/>: a child that spins is hung by the CPU it used, however slowly a loaded machine gave it;
/// one that waits forever, by the wall clock; one that ends, never.
/// </summary>
public sealed class ChildWaitTests
{
    [Fact]
    public void A_child_that_spins_is_taken_for_hung_by_the_cpu_it_used_not_by_the_clock()
    {
        using Process p = Process.Start("bash", ["-c", "while :; do :; done"]);
        try
        {
            Assert.StartsWith("it used ", ChildWait.ForExit(p, TimeSpan.FromSeconds(1), TimeSpan.MaxValue), StringComparison.Ordinal);
            Assert.True(p.TotalProcessorTime >= TimeSpan.FromSeconds(1));
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    [Fact]
    public void A_child_that_waits_forever_is_taken_for_hung_by_the_clock()
    {
        using Process p = Process.Start("sleep", "600");
        try
        {
            Assert.StartsWith("it waited ", ChildWait.ForExit(p, TimeSpan.MaxValue, TimeSpan.FromSeconds(1)), StringComparison.Ordinal);
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    [Fact]
    public void A_child_that_ends_is_not_hung()
    {
        using Process p = Process.Start("true");
        Assert.Null(ChildWait.ForExit(p, TimeSpan.FromMinutes(1), TimeSpan.MaxValue));
        Assert.Equal(0, p.ExitCode);
    }
}
