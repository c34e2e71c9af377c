namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The bytes inside a JSON string that keep it text, shared by JSON mode's automaton and a schema's: valid UTF-8 (a
/// character may be split between tokens, so the state carries the continuation bytes still due and the next one's
/// range in one byte) and \u escapes that pair their surrogates (the progress in another). Each automaton keeps both
/// bytes in its own state and turns the steps' outcomes into its own modes.
/// </summary>
internal static class JsonTextBytes
{
    // The ranges of a UTF-8 continuation byte: any, after E0 (no overlong form), after ED (no surrogate), after F0 (no
    // overlong form), after F4 (nothing past U+10FFFF).
    private static ReadOnlySpan<byte> RangeLow => [0x80, 0xA0, 0x80, 0x90, 0x80];
    private static ReadOnlySpan<byte> RangeHigh => [0xBF, 0xBF, 0x9F, 0xBF, 0x8F];

    private const int FirstD = 4;   // the escape's first hex digit is D: the second says whether it is a surrogate
    private const int High = 8;     // the escape is a high surrogate: a low one's escape must follow

    /// <summary>
    /// The UTF-8 state after lead byte <paramref name="b"/>: the continuation bytes due (low 2 bits) and the next one's
    /// range (above); 0 for a byte that leads nothing (C0, C1 and F5..FF are never UTF-8, nor is a lone continuation byte).
    /// </summary>
    public static byte Utf8Lead(byte b)
    {
        (int due, int next) = b switch
        {
            < 0xC2 => (0, 0),
            < 0xE0 => (1, 0),
            0xE0 => (2, 1),
            0xED => (2, 2),
            < 0xF0 => (2, 0),
            0xF0 => (3, 3),
            < 0xF4 => (3, 0),
            0xF4 => (3, 4),
            _ => (0, 0),
        };
        return (byte)((next << 2) | due);
    }

    /// <summary>The UTF-8 state after a continuation byte: one fewer due, and the bytes after the second take any continuation byte.</summary>
    public static byte Utf8Next(byte utf8) => (byte)((utf8 & 3) - 1);

    /// <summary>Whether <paramref name="b"/> may come next in the character <paramref name="utf8"/> (nonzero) has begun.</summary>
    public static bool Utf8Continues(byte utf8, byte b)
    {
        int range = utf8 >> 2;
        return b >= RangeLow[range] && b <= RangeHigh[range];
    }

    /// <summary>What a hex digit of a \u escape did.</summary>
    public enum HexStep
    {
        /// <summary>Not a hex digit, or a surrogate where none may stand: the byte is refused.</summary>
        Refused,

        /// <summary>Taken; more digits are due.</summary>
        More,

        /// <summary>The escape is complete: the string goes on.</summary>
        Done,

        /// <summary>The escape is a high surrogate: a low one's escape must follow.</summary>
        DoneHigh,
    }

    private static int HexValue(byte b) => (uint)(b - '0') <= 9 ? b - '0' : (uint)((b | 0x20) - 'a') <= 5 ? (b | 0x20) - 'a' + 10 : -1;

    /// <summary>
    /// A digit of \uXXXX, its progress in <paramref name="aux"/> (0 before the first): a high surrogate (D800..DBFF) asks
    /// for a low one's escape after it; a low one (DC00..DFFF) alone is refused at its second digit, as soon as it is one.
    /// </summary>
    public static HexStep HexDigit(ref byte aux, byte b)
    {
        int v = HexValue(b);
        if (v < 0)
        {
            return HexStep.Refused;
        }
        switch (aux & 3)
        {
            case 0:
                aux = (byte)(1 | (v == 0xD ? FirstD : 0));
                return HexStep.More;
            case 1:
                if ((aux & FirstD) != 0 && v >= 0xC)
                {
                    return HexStep.Refused;
                }
                aux = (byte)(2 | ((aux & FirstD) != 0 && v >= 8 ? High : 0));
                return HexStep.More;
            case 2:
                aux = (byte)(3 | (aux & High));
                return HexStep.More;
            default:
                bool high = (aux & High) != 0;
                aux = 0;
                return high ? HexStep.DoneHigh : HexStep.Done;
        }
    }

    /// <summary>A digit of the low surrogate's \uXXXX that must follow a high one (DC00..DFFF), its progress in <paramref name="aux"/>.</summary>
    public static HexStep LowHexDigit(ref byte aux, byte b)
    {
        int v = HexValue(b);
        int seen = aux;
        if (v < 0 || (seen == 0 && v != 0xD) || (seen == 1 && v < 0xC))
        {
            return HexStep.Refused;
        }
        aux++;
        if (aux < 4)
        {
            return HexStep.More;
        }
        aux = 0;
        return HexStep.Done;
    }
}
