using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Copal.Model.Tokenization;

/// <summary>Strict UTF-8 decoding for text that is about to be tokenized.</summary>
internal static class Utf8Text
{
    /// <summary>
    /// Decodes <paramref name="bytes"/> as UTF-8 and throws a <see cref="TokenizerException"/> naming
    /// <paramref name="sourceName"/> and the byte offset of the first invalid sequence. A leading BOM is kept
    /// (it is text as far as a tokenizer is concerned).
    /// </summary>
    public static string DecodeStrict(ReadOnlySpan<byte> bytes, string sourceName)
    {
        // Checked first, then decoded straight into the string: a buffer of the bytes' length in chars beside it
        // (rented, so kept by the pool after the call) doubled what decoding a dataset allocated.
        if (Utf8.IsValid(bytes))
        {
            return Encoding.UTF8.GetString(bytes);
        }
        int read = FirstInvalidByte(bytes);
        int end = Math.Min(bytes.Length, read + 4);
        string hex = Convert.ToHexString(bytes[read..end]);
        throw new TokenizerException($"{sourceName}: invalid UTF-8 at byte offset {read} (bytes {hex}); expected valid UTF-8 text");
    }

    // The offset of the first invalid (or cut-off) sequence of bytes that are not valid UTF-8.
    private static int FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        Span<char> chunk = stackalloc char[1024];
        int offset = 0;
        while (true)
        {
            OperationStatus status = Utf8.ToUtf16(bytes[offset..], chunk, out int read, out _, replaceInvalidSequences: false, isFinalBlock: true);
            offset += read;
            if (status != OperationStatus.DestinationTooSmall)
            {
                return offset;
            }
        }
    }

    /// <summary>Reads a whole file and decodes it with <see cref="DecodeStrict"/>.</summary>
    public static string ReadFileStrict(string path) => DecodeStrict(Evaluation.TextBytes.ReadFile(path), path);

    /// <summary>Lossy decoding with U+FFFD for each maximal invalid subsequence, as Rust's from_utf8_lossy does.</summary>
    internal static string DecodeLossy(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
