using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// Swaps two existing paths in one step, where the system can: Linux's renameat2(2) with RENAME_EXCHANGE (Linux 3.15,
/// glibc 2.28; ext4, xfs, btrfs, tmpfs, overlayfs and most others). Replacing a folder by two renames (the old one
/// aside, the new one in) leaves a moment with neither at the name; a process killed there (SIGKILL, a power cut)
/// would leave both under temporary names: the next run puts the old one back (<see cref="TemporaryNames.RestoreStale"/>)
/// and removes the unfinished one. A swap has no such moment.
/// </summary>
internal static class FolderSwap
{
    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    // errno values meaning "not here": the kernel lacks the call, or the file system the flag.
    private const int Einval = 22;
    private const int Enosys = 38;
    private const int Eopnotsupp = 95;

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirectoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath,
        int newDirectoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    // Set by Unavailable, in one flow of execution (a test) only: the others still swap.
    private static readonly AsyncLocal<bool> s_unavailable = new();

    /// <summary>
    /// Until the result is disposed, <see cref="TrySwap"/> answers as on Windows, macOS or a file system without
    /// RENAME_EXCHANGE (NFS, most FUSE mounts), in the calling flow of execution: the two renames that replace a folder
    /// there are tested on Linux too.
    /// </summary>
    internal static IDisposable Unavailable()
    {
        s_unavailable.Value = true;
        return new Available();
    }

    private sealed class Available : IDisposable
    {
        public void Dispose() => s_unavailable.Value = false;
    }

    /// <summary>
    /// Swaps what <paramref name="first"/> and <paramref name="second"/> name and returns true; returns false, having
    /// changed nothing, where this system or file system cannot swap (not Linux, a C library without renameat2, a file
    /// system without RENAME_EXCHANGE), so the caller falls back to renames.
    /// </summary>
    /// <exception cref="IOException">The swap was refused for another reason (a path missing, permission); nothing changed.</exception>
    public static bool TrySwap(string first, string second)
    {
        ArgumentException.ThrowIfNullOrEmpty(first);
        ArgumentException.ThrowIfNullOrEmpty(second);
        if (!OperatingSystem.IsLinux() || s_unavailable.Value)
        {
            return false;
        }
        try
        {
            if (RenameAt2(AtFdCwd, first, AtFdCwd, second, RenameExchange) == 0)
            {
                return true;
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (errno is Einval or Enosys or Eopnotsupp)
        {
            return false;
        }
        throw new IOException($"cannot swap '{first}' and '{second}': {Marshal.GetPInvokeErrorMessage(errno)}");
    }
}
