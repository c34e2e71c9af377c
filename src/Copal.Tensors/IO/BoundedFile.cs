namespace Copal.Tensors.IO;

/// <summary>
/// Reads a file or stream whole (a config, a tokenizer, a shard index; text inputs through TextBytes), refusing one
/// past a bound: a large file given by mistake, or a link to a device such as /dev/zero, would otherwise be read into
/// memory until the process runs out. A named pipe given as a path is refused before it is opened
/// (<see cref="FileKind.IsNamedPipe"/>): these files are a model's, which nothing writes as they are read.
/// </summary>
internal static class BoundedFile
{
    /// <summary>
    /// The bound of a model's side files: ten times the largest tokenizer.json published (Gemma 3's, 33 MB); configs
    /// and indexes are kilobytes to a few megabytes.
    /// </summary>
    public const long SideFileMaxBytes = 400_000_000;

    /// <summary>
    /// The bytes of <paramref name="path"/>, refused past <paramref name="maxBytes"/>: by the file's length where it has
    /// one, else once that much has been read.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">The most it may hold.</param>
    /// <param name="what">What the file should be, for the message ("a config.json").</param>
    /// <exception cref="FileTooLargeToReadException">The file holds more; its message says how much and the bound.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (FileKind.IsNamedPipe(path))
        {
            throw new IOException(FileKind.NamedPipeReason);
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.CanSeek && stream.Length > maxBytes)
        {
            throw new FileTooLargeToReadException($"it is {stream.Length} bytes, more than {what} holds (at most {maxBytes})");
        }
        return ReadToEnd(stream, maxBytes, () => new FileTooLargeToReadException($"more than {maxBytes} bytes came from it, more than {what} holds"));
    }

    /// <summary>
    /// The bytes of <paramref name="stream"/> to its end, refused with <paramref name="tooLarge"/>'s exception once more
    /// than <paramref name="maxBytes"/> came (at most that many and one more are read).
    /// </summary>
    public static byte[] ReadToEnd(Stream stream, long maxBytes, Func<Exception> tooLarge)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tooLarge);
        using var buffer = new MemoryStream();
        if (stream.CanSeek && stream.Length - stream.Position is long known and >= 0 && known <= maxBytes
            && ReadKnownLength(stream, (int)Math.Min(known, Array.MaxLength), buffer) is { } whole)
        {
            return whole;
        }
        if (buffer.Length > maxBytes)
        {
            throw tooLarge();
        }
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, maxBytes + 1 - buffer.Length))) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > maxBytes)
            {
                throw tooLarge();
            }
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// A file of known length read into an array of that length: a buffer that doubles, then is copied out, allocated
    /// about four times the file and held three at its peak (a 10 MB dataset, a 33 MB tokenizer.json). Null when the
    /// stream holds more than it said (a file that grew, a /proc file of length 0): what was read is in
    /// <paramref name="rest"/> then, for the caller to read on as any stream.
    /// </summary>
    private static byte[]? ReadKnownLength(Stream stream, int length, MemoryStream rest)
    {
        byte[] whole = new byte[length];
        int filled = 0, n;
        while (filled < length && (n = stream.Read(whole, filled, length - filled)) > 0)
        {
            filled += n;
        }
        if (filled < length)
        {
            return whole[..filled]; // it shrank while read
        }
        int next = stream.ReadByte();
        if (next < 0)
        {
            return whole;
        }
        rest.Write(whole, 0, filled);
        rest.WriteByte((byte)next);
        return null;
    }

    /// <summary><see cref="ReadAllBytes"/> as text, decoded as <see cref="File.ReadAllText(string)"/> decodes (UTF-8, or the encoding a byte-order mark names).</summary>
    public static string ReadAllText(string path, long maxBytes, string what)
    {
        using var reader = new StreamReader(new MemoryStream(ReadAllBytes(path, maxBytes, what)), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }
}

/// <summary>A file read whole holds more than what it should be can (<see cref="BoundedFile"/>); an IOException, so read failures' handlers take it.</summary>
internal sealed class FileTooLargeToReadException(string message) : IOException(message);
