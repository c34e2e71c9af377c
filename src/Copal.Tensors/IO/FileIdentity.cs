namespace Copal.Tensors.IO;

/// <summary>
/// A file or folder as the disk knows it: its device and inode. Two paths that resolve to different strings may still
/// name one folder where no link explains it: a bind mount shows a folder at a second place, and a case-insensitive
/// file system (vfat, exFAT, ext4 with casefold) takes <c>Llama</c> and <c>llama</c> for one name. Known on Linux
/// (<see cref="Statx"/>); elsewhere <see cref="Of"/> knows none, and paths are compared as spelled.
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    /// <summary>The identity of what <paramref name="path"/> names, links followed; null where it does not exist or this system cannot tell.</summary>
    public static unsafe FileIdentity? Of(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte* buffer = stackalloc byte[Statx.Size];
        return Statx.TryQuery(path, Statx.InodeMask, buffer) ? Read(buffer) : null;
    }

    /// <summary>The identity of what the open <paramref name="fd"/> is open on; null where this system cannot tell.</summary>
    public static unsafe FileIdentity? OfOpen(int fd)
    {
        byte* buffer = stackalloc byte[Statx.Size];
        return Statx.TryQueryOpen(fd, Statx.InodeMask, buffer) ? Read(buffer) : null;
    }

    private static unsafe FileIdentity? Read(byte* buffer)
    {
        if ((*(uint*)buffer & Statx.InodeMask) == 0)
        {
            return null;
        }
        ulong device = ((ulong)*(uint*)(buffer + Statx.DeviceMajorOffset) << 32) | *(uint*)(buffer + Statx.DeviceMinorOffset);
        return new FileIdentity(device, *(ulong*)(buffer + Statx.InodeOffset));
    }
}
