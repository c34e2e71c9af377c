namespace Copal.Tensors.IO;

/// <summary>
/// Reads a small file whole (a config, a tokenizer, a shard index), refusing one past a bound: a large file given by
/// mistake, or a link to a device such as /dev/zero, would otherwise be read into memory until the process runs out.
/// </summary>
public static class BoundedFile
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
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.CanSeek && stream.Length > maxBytes)
        {
            throw new FileTooLargeToReadException($"it is {stream.Length} bytes, more than {what} holds (at most {maxBytes})");
        }
        using var bytes = new MemoryStream();
        byte[] buffer = new byte[81920];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            if (bytes.Length + read > maxBytes)
            {
                throw new FileTooLargeToReadException($"more than {maxBytes} bytes came from it, more than {what} holds");
            }
            bytes.Write(buffer, 0, read);
        }
        return bytes.ToArray();
    }

    /// <summary><see cref="ReadAllBytes"/> as text, decoded as <see cref="File.ReadAllText(string)"/> decodes (UTF-8, or the encoding a byte-order mark names).</summary>
    public static string ReadAllText(string path, long maxBytes, string what)
    {
        using var reader = new StreamReader(new MemoryStream(ReadAllBytes(path, maxBytes, what)), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }
}

/// <summary>A file read whole holds more than what it should be can (<see cref="BoundedFile"/>); an IOException, so read failures' handlers take it.</summary>
public sealed class FileTooLargeToReadException(string message) : IOException(message);
