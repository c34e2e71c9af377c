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
