namespace Copal.Cli.Tests;

/// <summary>A theory that needs Linux's /proc, where no file or folder can be created; skipped, with that reason, elsewhere.</summary>
public sealed class ProcFsTheoryAttribute : TheoryAttribute
{
    public ProcFsTheoryAttribute()
    {
        if (!Directory.Exists("/proc/self"))
        {
            Skip = "needs Linux's /proc, a file system where nothing can be created";
        }
    }
}

/// <summary>A fact that needs Linux's /proc, where no file or folder can be created; skipped, with that reason, elsewhere.</summary>
public sealed class ProcFsFactAttribute : FactAttribute
{
    public ProcFsFactAttribute()
    {
        if (!Directory.Exists("/proc/self"))
        {
            Skip = "needs Linux's /proc, a file system where nothing can be created";
        }
    }
}
