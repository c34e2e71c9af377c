namespace Copal.Tensors.IO;

/// <summary>
/// The operating system's reason an input could not be read, for messages that name the file themselves. A read's
/// reasons are not a write's (<see cref="AtomicDirectory.Reason"/>): a file not found while writing is a file system
/// that refuses the new file, while reading it is a file that is not there, most often a link to nothing or a file
/// removed after its folder was listed (the checks before the read saw its name).
/// </summary>
internal static class ReadFailure
{
    /// <summary>How <see cref="Reason"/> words a file that is not there.</summary>
    public const string Missing = "no such file (a link to a file that does not exist, or one removed since)";

    /// <summary>The reason <paramref name="e"/>, thrown while opening or reading a file, gives, without the path .NET appends.</summary>
    public static string Reason(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e switch
        {
            FileNotFoundException => Missing,
            DirectoryNotFoundException => "a folder on its path does not exist",
            _ => AtomicDirectory.Reason(e),
        };
    }
}
