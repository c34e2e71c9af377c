using System.Globalization;
using Copal.Tensors.IO;

namespace Copal.Model.Evaluation;

/// <summary>
/// The bytes of a text input, at most as many as one string can hold once decoded. Beyond that a file (or standard
/// input, or a device such as /dev/zero that never ends) failed deep in .NET, as an "internal error" out of memory,
/// after reading gigabytes; it is refused as soon as the limit is passed, naming the input and the limit.
/// </summary>
internal static class TextBytes
{
    /// <summary>The most bytes read: the longest string .NET holds, which UTF-8 text of this many bytes never exceeds.</summary>
    public const int MaxBytes = 0x3FFFFFDF;

    /// <summary>The bytes of the file <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file holds more than <see cref="MaxBytes"/> bytes.</exception>
    public static byte[] ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using FileStream file = File.OpenRead(path);
        string source = $"text file '{path}'";
        if (file.CanSeek && file.Length > MaxBytes)
        {
            throw TooLong(source, $"is {file.Length.ToString("N0", CultureInfo.InvariantCulture)} bytes");
        }
        return Read(file, source, MaxBytes);
    }

    /// <summary>
    /// The bytes of <paramref name="stream"/> to its end; <paramref name="source"/> names it in the error
    /// ("standard input").
    /// </summary>
    /// <exception cref="IOException">The stream holds more than <see cref="MaxBytes"/> bytes.</exception>
    public static byte[] Read(Stream stream, string source) => Read(stream, source, MaxBytes);

    /// <summary>As <see cref="Read(Stream, string)"/> with another limit (tests).</summary>
    internal static byte[] Read(Stream stream, string source, int maxBytes) =>
        BoundedFile.ReadToEnd(stream, maxBytes, () => TooLong(source, $"holds more than {maxBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes", maxBytes));

    // The type that says "too long", not "unreadable", to handlers that name read failures.
    private static FileTooLargeToReadException TooLong(string source, string size, int maxBytes = MaxBytes) =>
        new($"{source} {size}; expected at most {maxBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes of text (the most one string holds): split it");
}
