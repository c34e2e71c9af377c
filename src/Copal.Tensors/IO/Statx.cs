using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// Linux's statx(2), for what .NET does not report of a file: its type (<see cref="FileKind"/>) and its device and
/// inode (<see cref="FileIdentity"/>). The struct's layout is the same on every architecture.
/// </summary>
internal static unsafe class Statx
{
    // AT_FDCWD for a path relative to the current folder.
    private const int AtFdCwd = -100;

    /// <summary>The size of struct statx.</summary>
    public const int Size = 256;

    /// <summary>STATX_TYPE: the type bits of stx_mode.</summary>
    public const uint TypeMask = 0x1;

    /// <summary>STATX_INO: stx_ino (the device, stx_dev_major and stx_dev_minor, is always filled in).</summary>
    public const uint InodeMask = 0x100;

    /// <summary>Offsets of the fields read: stx_mode (u16), stx_ino (u64), stx_dev_major and stx_dev_minor (u32).</summary>
    public const int ModeOffset = 28, InodeOffset = 32, DeviceMajorOffset = 136, DeviceMinorOffset = 140;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Call(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);

    // AT_EMPTY_PATH: an empty path names the open file directoryFd itself (fstat).
    private const int AtEmptyPath = 0x1000;

    /// <summary>As <see cref="TryQuery"/>, for the file or folder that <paramref name="fd"/> is open on.</summary>
    public static bool TryQueryOpen(int fd, uint mask, byte* buffer)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return Call(fd, "", AtEmptyPath, mask, buffer) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Fills <paramref name="buffer"/> (<see cref="Size"/> bytes) for <paramref name="path"/>, links followed; false
    /// when the path is missing or unreadable, or this is not Linux or its C library has no statx (glibc before 2.28).
    /// </summary>
    public static bool TryQuery(string path, uint mask, byte* buffer)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return Call(AtFdCwd, path, 0, mask, buffer) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }
}
