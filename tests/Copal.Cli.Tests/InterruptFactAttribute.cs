namespace Copal.Cli.Tests;

/// <summary>
/// A fact that sends SIGINT to a child copal. A process started in the background by a non-interactive shell (cmd &amp;)
/// has SIGINT ignored, children inherit that, and the .NET runtime rightly leaves an ignored signal ignored: Ctrl-C
/// cannot reach copal then, so the test is reported as skipped with that reason instead of failing.
/// </summary>
public sealed class InterruptFactAttribute : FactAttribute
{
    public InterruptFactAttribute()
    {
        if (SigIntIgnored())
        {
            Skip = "SIGINT is ignored in this test process (started in the background by a shell), so a child cannot receive Ctrl-C";
        }
    }

    /// <summary>Bit 1 (signal 2) of the SigIgn mask in /proc/self/status.</summary>
    private static bool SigIntIgnored()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, null, out ulong mask)
            && (mask & (1UL << 1)) != 0;
    }
}
