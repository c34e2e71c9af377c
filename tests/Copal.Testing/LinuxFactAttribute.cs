using Xunit;

namespace Copal.Testing;

/// <summary>A fact that needs Linux (a shell's ulimit, signals as Linux delivers them, its file types); skipped, with that reason, elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux";
        }
    }
}

/// <summary>A theory that needs Linux (its mmap and mprotect flag values, signals, file types); skipped, with that reason, elsewhere.</summary>
public sealed class LinuxTheoryAttribute : TheoryAttribute
{
    public LinuxTheoryAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux";
        }
    }
}
