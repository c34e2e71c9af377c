namespace Copal.Tensors.IO;

/// <summary>
/// Free space checked before long work writes its output, so a run that would fill the disk fails at once, naming
/// both sizes, instead of hours later (where it would still leave nothing behind). Outputs are folders that may not
/// exist yet: each is judged by the nearest folder above it that does, the file system it will be made on.
/// </summary>
internal static class DiskSpace
{
    /// <summary>
    /// Refuses <paramref name="bytes"/> of <paramref name="what"/> for the folder <paramref name="path"/> (named
    /// <paramref name="name"/>, e.g. its option) that the free space of its file system cannot hold: that of
    /// <paramref name="measuredAt"/> where given (an output's temporary folder beside it), else of the path's.
    /// </summary>
    public static void Require(string name, string path, long bytes, string what, string? measuredAt = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (FreeBytes(Existing(measuredAt ?? path)) is not long free)
        {
            return; // not known here: a full disk still fails the write, leaving nothing behind
        }
        if (bytes > free)
        {
            throw new IOException($"{name} '{path}': {what} takes {ByteSize.Format(bytes)}, and its file system has {ByteSize.Format(free)} free");
        }
    }

    /// <summary>
    /// Whether two folders (either may not exist yet) are on one file system, so what is written to both comes out of
    /// one free space. True where the system cannot tell (<see cref="FileIdentity"/>): counting both against one
    /// space is the cautious answer.
    /// </summary>
    public static bool OnSameFileSystem(string folder, string other)
    {
        return FileIdentity.Of(Existing(folder)) is not FileIdentity a || FileIdentity.Of(Existing(other)) is not FileIdentity b
            || a.Device == b.Device;
    }

    /// <summary>
    /// The free bytes of the file system that holds <paramref name="folder"/>, or null where this system cannot say:
    /// Windows' DriveInfo takes a drive letter's path only, and refused a network share (<c>\\server\share\out</c>)
    /// with "Object must be a root directory", which no output there could pass.
    /// </summary>
    private static long? FreeBytes(string folder)
    {
        try
        {
            return new DriveInfo(folder).AvailableFreeSpace;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static string Existing(string folder) =>
        Directory.Exists(folder) ? folder : MadeFolders.NearestExistingAbove(folder) ?? ".";
}
