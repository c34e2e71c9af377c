namespace Copal.Tensors.Safetensors;

/// <summary>
/// A safetensors file, checkpoint folder or sharded index is malformed or does not hold what was asked for.
/// The message names the file and states what was expected and what was found.
/// </summary>
public class SafetensorsException : Exception
{
    /// <summary>
    /// A problem in <paramref name="path"/>; the message reads "path: message", with " (at byte offset)" when
    /// <paramref name="offset"/> is given.
    /// </summary>
    public SafetensorsException(string path, string message, long? offset = null, Exception? inner = null)
        : base(Format(path, message, offset), inner)
    {
        FilePath = path;
        Offset = offset;
    }

    /// <summary>The file (or folder) the problem is in.</summary>
    public string FilePath { get; }

    /// <summary>The byte offset in the file the problem was found at, where one applies.</summary>
    public long? Offset { get; }

    /// <summary>
    /// True where the file system refused a write of the file (a full disk, a file-size limit; the inner exception
    /// says which), false where a file was read: a caller that names its output for a write failure
    /// (<see cref="IO.AtomicDirectory.WriteFailureIn"/>) must not do so for an input it could not read.
    /// </summary>
    public bool WhileWriting { get; init; }

    private static string Format(string path, string message, long? offset) =>
        offset is long at ? $"{path}: {message} (at byte {at})" : $"{path}: {message}";
}
