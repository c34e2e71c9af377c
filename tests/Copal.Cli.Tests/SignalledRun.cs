using System.Diagnostics;
using System.Globalization;

namespace Copal.Cli.Tests;

/// <summary>What the signal tests do to a copal run in flight: wait for a state it reaches, and signal it.</summary>
internal static class SignalledRun
{
    /// <summary>True once <paramref name="condition"/> holds; false if the run ended first (or after two minutes).</summary>
    public static bool Until(Process p, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (condition())
            {
                return true;
            }
            if (p.HasExited)
            {
                return condition();
            }
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>Sends <paramref name="signal"/> (a name such as TERM) to <paramref name="pid"/> through kill(1).</summary>
    public static void Kill(string signal, int pid)
    {
        using Process kill = Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}
