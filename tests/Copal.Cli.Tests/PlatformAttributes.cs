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
        if (!MountNamespace.Allows(folder => ["mount", "--bind", folder, folder]))
        {
            Skip = "needs unshare -rm (Linux with user namespaces, or root) to bind-mount a folder in a namespace of its own";
        }
    }
}

/// <summary>
/// A fact that runs copal in a mount namespace of its own on a small tmpfs, a file system whose free space the test
/// sets (<c>unshare -rm</c>: Linux with user namespaces, or root); skipped, with that reason, elsewhere.
/// </summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (!MountNamespace.Allows(folder => ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder]))
        {
            Skip = "needs unshare -rm (Linux with user namespaces, or root) to mount a tmpfs in a namespace of its own";
        }
    }
}

/// <summary>Whether a mount can be made in a mount namespace of this process's own (<c>unshare -rm</c>).</summary>
internal static class MountNamespace
{
    /// <summary>Tries <paramref name="mount"/> (the command, given a fresh empty folder) in a namespace that ends with it: on nothing that matters.</summary>
    public static bool Allows(Func<string, string[]> mount)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        string folder = Directory.CreateTempSubdirectory("copal-mount-").FullName;
        try
        {
            return CommandProbe.Succeeds("unshare", ["-rm", .. mount(folder)]);
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

/// <summary>
/// A fact that runs copal in a v1 memory cgroup of its own (<see cref="MemoryCgroup"/>: root, and the v1 memory
/// controller mounted); skipped, with that reason, elsewhere.
/// </summary>
public sealed class MemoryCgroupFactAttribute : FactAttribute
{
    public MemoryCgroupFactAttribute()
    {
        if (!MemoryCgroup.Allowed())
        {
            Skip = "needs a v1 memory cgroup this process may make (root, with the memory controller at /sys/fs/cgroup/memory)";
        }
    }
}

/// <summary>
/// A Linux fact that tells a process waiting to write a full pipe by its threads' wait channels
/// (<c>/proc/PID/task/*/wchan</c> naming <c>pipe_write</c>); skipped, with that reason, where the kernel does not name
/// them so: one without kallsyms reads "0", a sandbox's /proc may have no wchan, and kernels before 5.5 wait in
/// <c>pipe_wait</c>, which a reading thread shows too. Without the skip such a kernel failed the test after minutes.
/// </summary>
public sealed class PipeWriteWaitFactAttribute : FactAttribute
{
    public PipeWriteWaitFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !PipeWriteWait.IsNamed())
        {
            Skip = "needs Linux whose /proc/PID/task/*/wchan names pipe_write for a thread waiting to write a full pipe";
        }
    }
}

/// <summary>Whether this kernel names a thread waiting to write a full pipe <c>pipe_write</c> in its wchan.</summary>
internal static class PipeWriteWait
{
    /// <summary>A thread of this process fills a pipe nobody reads until its write waits; its wait channel is looked for, then the pipe closed.</summary>
    public static bool IsNamed()
    {
        using var reader = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, reader.ClientSafePipeHandle);
        var filling = new Thread(() =>
        {
            try
            {
                var chunk = new byte[4096];
                while (true)
                {
                    writer.Write(chunk);
                }
            }
            catch (IOException)
            {
                // The reader closed: the probe is over.
            }
            catch (ObjectDisposedException)
            {
            }
        }) { IsBackground = true };
        filling.Start();
        try
        {
            // Only whether to skip rests on this wait; the write blocks within microseconds of the pipe filling.
            for (int i = 0; i < 500; i++)
            {
                if (AnyThreadWaitsIn("pipe_write"))
                {
                    return true;
                }
                Thread.Sleep(10);
            }
            return false;
        }
        finally
        {
            reader.Dispose(); // the blocked write fails (EPIPE; the runtime ignores SIGPIPE) and the thread ends
            filling.Join(TimeSpan.FromSeconds(10));
        }
    }

    private static bool AnyThreadWaitsIn(string function)
    {
        try
        {
            return Directory.EnumerateDirectories("/proc/self/task").Any(task =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(task, "wchan")).Contains(function, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false; // a thread ended while it was looked at, or no wchan
                }
            });
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>A fact that stops copal at a chosen system call through strace (Linux, strace installed, ptrace allowed); skipped, with that reason, elsewhere.</summary>
public sealed class StraceFactAttribute : FactAttribute
{
    public StraceFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !CommandProbe.Succeeds("strace", ["-qq", "-o", "/dev/null", "-e", "trace=none", "true"]))
        {
            Skip = "needs strace, and permission to trace a child process (Linux)";
        }
    }
}

/// <summary>Whether a command this machine may lack, or may not allow, runs and exits 0 (its output unread).</summary>
internal static class CommandProbe
{
    public static bool Succeeds(string file, string[] arguments)
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, arguments)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // not installed
        }
    }
}
