using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Copal.Model.Tokenization;

/// <summary>Strict UTF-8 decoding for text that is about to be tokenized.</summary>
public static class Utf8Text
{
    /// <summary>
    /// Decodes <paramref name="bytes"/> as UTF-8 and throws a <see cref="TokenizerException"/> naming
    /// <paramref name="sourceName"/> and the byte offset of the first invalid sequence. A leading BOM is kept
    /// (it is text as far as a tokenizer is concerned).
    /// </summary>
    public static string DecodeStrict(ReadOnlySpan<byte> bytes, string sourceName)
    {
        char[] buffer = ArrayPool<char>.Shared.Rent(Math.Max(1, bytes.Length));
        try
        {
            OperationStatus status = Utf8.ToUtf16(bytes, buffer, out int read, out int written,
                replaceInvalidSequences: false, isFinalBlock: true);
            if (status != OperationStatus.Done)
            {
                int end = Math.Min(bytes.Length, read + 4);
                string hex = Convert.ToHexString(bytes[read..end]);
                throw new TokenizerException(
                    $"{sourceName}: invalid UTF-8 at byte offset {read} (bytes {hex}); expected valid UTF-8 text");
            }
            return new string(buffer, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads a whole file and decodes it with <see cref="DecodeStrict"/>.</summary>
    public static string ReadFileStrict(string path) => DecodeStrict(Evaluation.TextBytes.ReadFile(path), path);

    /// <summary>Lossy decoding with U+FFFD for each maximal invalid subsequence, as Rust's from_utf8_lossy does.</summary>
    internal static string DecodeLossy(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
