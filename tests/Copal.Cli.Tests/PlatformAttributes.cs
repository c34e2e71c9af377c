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

/// <summary>
/// A fact that runs copal in a mount namespace of its own, where a bind mount can show a folder at a second path
/// (<c>unshare -rm</c>: Linux with user namespaces, or root); skipped, with that reason, elsewhere.
/// </summary>
public sealed class BindMountFactAttribute : FactAttribute
{
    public BindMountFactAttribute()
    {
        if (!CanBindMount())
        {
            Skip = "needs unshare -rm (Linux with user namespaces, or root) to bind-mount a folder in a namespace of its own";
        }
    }

    private static bool CanBindMount()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        // A fresh empty folder bound onto itself: what the test does, on nothing that matters.
        string folder = Directory.CreateTempSubdirectory("copal-bind-").FullName;
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("unshare", ["-rm", "mount", "--bind", folder, folder])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no unshare
        }
        finally
        {
            Directory.Delete(folder);
        }
    }
}

/// <summary>
/// A fact that needs a file copal cannot read: Linux, where a mode without read permission does it, and as root also
/// <c>setpriv</c> to run copal without the capability to read past it
/// (<see cref="CopalProcess.RunBoundByPermissions"/>); skipped, with that reason, elsewhere.
/// </summary>
public sealed class UnreadableFileFactAttribute : FactAttribute
{
    public UnreadableFileFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux's file modes (and, as root, setpriv) to make a file unreadable";
        }
        else if (Environment.IsPrivilegedProcess && !File.Exists("/usr/bin/setpriv") && !File.Exists("/bin/setpriv"))
        {
            Skip = "runs as root, which reads any file, and has no setpriv to drop that capability";
        }
    }
}
