using System.Buffers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization;

/// <summary>Shared rules of the <see cref="Tokenizer"/> contract: MaxTokenCount truncation and span decoding.</summary>
internal static class TokenLimit
{
    /// <summary>
    /// How many of <paramref name="tokens"/> fit in <paramref name="maxTokenCount"/> without cutting a character:
    /// tokens that share a character (the byte-fallback tokens of one character, a byte-level token pair inside one
    /// emoji) are kept or dropped together.
    /// </summary>
    public static int Keep(IReadOnlyList<EncodedToken> tokens, int maxTokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokenCount);
        if (tokens.Count <= maxTokenCount)
        {
            return tokens.Count;
        }
        int keep = maxTokenCount;
        while (keep > 0 && tokens[keep].Offset.Start.Value < tokens[keep - 1].Offset.End.Value)
        {
            keep--;
        }
        return keep;
    }

    /// <summary>Chars of the (normalized) text covered by the kept tokens: all of it unless tokens were dropped.</summary>
    public static int CharsConsumed(IReadOnlyList<EncodedToken> kept, int textLength, bool truncated) =>
        !truncated ? textLength : kept.Count == 0 ? 0 : kept[^1].Offset.End.Value;

    /// <summary>Copies a whole decoded text into <paramref name="destination"/>, or reports that it does not fit.</summary>
    public static OperationStatus CopyOut(string text, int idCount, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        if (text.Length > destination.Length)
        {
            idsConsumed = 0;
            charsWritten = 0;
            return OperationStatus.DestinationTooSmall;
        }
        text.CopyTo(destination);
        idsConsumed = idCount;
        charsWritten = text.Length;
        return OperationStatus.Done;
    }
}
