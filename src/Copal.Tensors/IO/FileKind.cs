namespace Copal.Tensors.IO;

/// <summary>
/// Whether a path names a stream (a character or block device, a pipe, a socket) rather than a plain file or folder.
/// An output there is written into, as a shell's redirection does: renaming a finished file onto it, as outputs
/// otherwise are, would replace /dev/null or a named pipe with a plain file. .NET reports no file type, so on Linux
/// this asks the kernel (<see cref="Statx"/>); elsewhere nothing counts as a stream.
/// </summary>
public static unsafe class FileKind
{
    private const int TypeMask = 0xF000;
    private const int Regular = 0x8000;
    private const int Folder = 0x4000;

    /// <summary>
    /// True when <paramref name="path"/> exists, through any links (/dev/stdout included), and is neither a plain
    /// file nor a folder.
    /// </summary>
    public static bool IsStream(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte* buffer = stackalloc byte[Statx.Size];
        if (!Statx.TryQuery(path, Statx.TypeMask, buffer))
        {
            return false; // missing or unreadable (the output's own checks say why), or not Linux
        }
        int type = *(ushort*)(buffer + Statx.ModeOffset) & TypeMask;
        return type is not (Regular or Folder);
    }
}
