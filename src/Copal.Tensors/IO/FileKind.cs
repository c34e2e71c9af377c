using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// Whether a path names a stream (a character or block device, a pipe, a socket) rather than a plain file or folder.
/// An output there is written into, as a shell's redirection does: renaming a finished file onto it, as outputs
/// otherwise are, would replace /dev/null or a named pipe with a plain file. .NET reports no file type, so on Linux
/// this asks the kernel (statx(2), whose layout is the same on every architecture); elsewhere nothing counts as a
/// stream.
/// </summary>
public static unsafe class FileKind
{
    // statx(2): AT_FDCWD for a path relative to the current folder; STATX_TYPE asks only for the type bits of
    // stx_mode, a u16 at byte 28 of the 256-byte struct statx.
    private const int AtFdCwd = -100;
    private const uint StatxType = 1;
    private const int StatxSize = 256;
    private const int StatxModeOffset = 28;
    private const int TypeMask = 0xF000;
    private const int Regular = 0x8000;
    private const int Folder = 0x4000;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);

    /// <summary>
    /// True when <paramref name="path"/> exists, through any links (/dev/stdout included), and is neither a plain
    /// file nor a folder.
    /// </summary>
    public static bool IsStream(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        byte* buffer = stackalloc byte[StatxSize];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
            {
                return false; // missing or unreadable: the output's own checks say why
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // a C library without statx (glibc before 2.28), or none by that name
        }
        int type = *(ushort*)(buffer + StatxModeOffset) & TypeMask;
        return type is not (Regular or Folder);
    }
}
