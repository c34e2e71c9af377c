namespace Copal.Tensors.IO;

/// <summary>
/// Whether a path names a stream (a character or block device, a pipe, a socket) rather than a plain file or folder.
/// An output there is written into, as a shell's redirection does: renaming a finished file onto it, as outputs
/// otherwise are, would replace /dev/null or a named pipe with a plain file. .NET reports no file type, so on Linux
/// this asks the kernel (<see cref="Statx"/>); elsewhere nothing counts as a stream.
/// </summary>
internal static unsafe class FileKind
{
    private const int TypeMask = 0xF000;
    private const int Regular = 0x8000;
    private const int Folder = 0x4000;
    private const int Fifo = 0x1000;

    /// <summary>
    /// True when <paramref name="path"/> exists, through any links (/dev/stdout included), and is neither a plain
    /// file nor a folder.
    /// </summary>
    public static bool IsStream(string path) => Type(path) is int type && type is not (Regular or Folder);

    /// <summary>
    /// True when <paramref name="path"/> exists, through any links, and is a named pipe: a pipe with a name in a file
    /// system (mkfifo), not one a shell's process substitution passes as /dev/fd/N, whose writer is already there.
    /// Opening a named pipe to read waits, without end and deaf to cancellation, until something opens it to write: a
    /// model's files, which nothing writes as they are read, are refused as pipes before they are opened.
    /// </summary>
    public static bool IsNamedPipe(string path) => Type(path) == Fifo && !IsOpenPipe(path);

    // /dev/fd/N and /proc/self/fd/N lead to the kernel's "pipe:[inode]" for a pipe this process holds open.
    private static bool IsOpenPipe(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.Name.StartsWith("pipe:[", StringComparison.Ordinal) == true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Message words for a model file that is a named pipe.</summary>
    public const string NamedPipeReason = "it is a named pipe, expected a regular file (opening a pipe waits for a writer)";

    // The type bits of the path's mode, links followed; null where missing or unreadable (the callers' own checks
    // say why), or not Linux.
    private static int? Type(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte* buffer = stackalloc byte[Statx.Size];
        if (!Statx.TryQuery(path, Statx.TypeMask, buffer))
        {
            return null;
        }
        return *(ushort*)(buffer + Statx.ModeOffset) & TypeMask;
    }
}
