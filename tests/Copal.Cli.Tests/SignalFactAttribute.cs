namespace Copal.Cli.Tests;

/// <summary>
/// A fact that sends a signal to a child copal. A process can start with a signal ignored (SIGINT for a background
/// job of a non-interactive shell, SIGHUP under nohup); children inherit that, and the .NET runtime rightly leaves
/// an ignored signal ignored, so the signal cannot reach copal then. The test is reported as skipped with that
/// reason instead of failing.
/// </summary>
public class SignalFactAttribute : FactAttribute
{
    public SignalFactAttribute(int signal, string name)
    {
        if (Ignored(signal))
        {
            Skip = $"{name} is ignored in this test process (inherited from whatever started it), so a child cannot receive it";
        }
    }

    /// <summary>Bit signal − 1 of the SigIgn mask in /proc/self/status.</summary>
    internal static bool Ignored(int signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, null, out ulong mask)
            && (mask & (1UL << (signal - 1))) != 0;
    }
}

/// <summary>A fact that sends SIGINT (Ctrl-C) to a child copal; skipped where SIGINT is ignored.</summary>
public sealed class InterruptFactAttribute() : SignalFactAttribute(2, "SIGINT");

/// <summary>A fact that sends SIGHUP to a child copal; skipped where SIGHUP is ignored (a run under nohup).</summary>
public sealed class HangupFactAttribute() : SignalFactAttribute(1, "SIGHUP");

/// <summary>
/// A fact that sends <c>signal</c> to a child copal once its handlers are in place, which it sees by copal catching
/// SIGHUP (<see cref="CopalProcess.WaitForSignalHandlers"/>): skipped where either signal is ignored, or off Linux.
/// </summary>
public sealed class SignalWhenReadyFactAttribute : SignalFactAttribute
{
    public SignalWhenReadyFactAttribute(int signal, string name)
        : base(signal, name)
    {
        if (Skip is null && !OperatingSystem.IsLinux())
        {
            Skip = "readiness is read from /proc, which only Linux has";
        }
        else if (Skip is null && Ignored(1))
        {
            Skip = "SIGHUP is ignored in this test process, so a child's readiness cannot be seen by its SIGHUP handler";
        }
    }
}
