using System.Runtime.CompilerServices;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// What JSON mode's automaton and a schema's read alike inside a JSON string: the bytes that keep it text: valid UTF-8 (a
/// character may be split between tokens, so the state carries the continuation bytes still due and the next one's
/// range in one byte) and escapes, whose \u ones pair their surrogates (the progress in another). Each automaton keeps
/// both bytes in its own state and turns the steps' outcomes into its own modes.
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

    /// <summary>Takes <paramref name="b"/> as the next byte of the character <paramref name="utf8"/> (nonzero) has begun, or refuses it (false).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Utf8Continue(ref byte utf8, byte b)
    {
        if (!Utf8Continues(utf8, b))
        {
            return false;
        }
        utf8 = Utf8Next(utf8);
        return true;
    }

    /// <summary>What a byte of an escape did.</summary>
    public enum EscapeStep
    {
        /// <summary>Not a byte the escape may take here: the byte is refused.</summary>
        Refused,

        /// <summary>Taken; the escape goes on.</summary>
        More,

        /// <summary>The escape is complete: the string goes on.</summary>
        Done,
    }

    // The escape's phase (high nibble) and a \u's digits (low nibble: their count in bits 0-1, FirstD and High above).
    private const int ShortOrU = 0, Hex = 1, LowBackslash = 2, LowU = 3, LowHex = 4;

    /// <summary>
    /// A byte after a string's backslash, the escape's progress in <paramref name="escape"/> (0 right after the
    /// backslash): a short escape's letter, or u and four hex digits. A high surrogate's \uXXXX must be followed by a
    /// low one's (DC00..DFFF); a low one alone is refused at its second digit, as soon as it is one.
    /// </summary>
    public static EscapeStep EscapeByte(ref byte escape, byte b)
    {
        int digits = escape & 0xF;
        switch (escape >> 4)
        {
            case ShortOrU:
                if (b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                {
                    return EscapeStep.Done;
                }
                return b == 'u' ? To(ref escape, Hex, 0) : EscapeStep.Refused;
            case Hex:
                return HexDigit(ref escape, digits, b);
            case LowBackslash:
                return b == '\\' ? To(ref escape, LowU, 0) : EscapeStep.Refused;
            case LowU:
                return b == 'u' ? To(ref escape, LowHex, 0) : EscapeStep.Refused;
            default:
                return LowHexDigit(ref escape, digits, b);
        }
    }

    private static EscapeStep To(ref byte escape, int phase, int digits)
    {
        escape = (byte)((phase << 4) | digits);
        return EscapeStep.More;
    }

    private static int HexValue(byte b) => (uint)(b - '0') <= 9 ? b - '0' : (uint)((b | 0x20) - 'a') <= 5 ? (b | 0x20) - 'a' + 10 : -1;

    // A digit of \uXXXX: a high surrogate (D800..DBFF) asks for a low one's escape after it; a low one (DC00..DFFF)
    // alone is refused at its second digit.
    private static EscapeStep HexDigit(ref byte escape, int digits, byte b)
    {
        int v = HexValue(b);
        if (v < 0)
        {
            return EscapeStep.Refused;
        }
        switch (digits & 3)
        {
            case 0:
                return To(ref escape, Hex, 1 | (v == 0xD ? FirstD : 0));
            case 1:
                if ((digits & FirstD) != 0 && v >= 0xC)
                {
                    return EscapeStep.Refused;
                }
                return To(ref escape, Hex, 2 | ((digits & FirstD) != 0 && v >= 8 ? High : 0));
            case 2:
                return To(ref escape, Hex, 3 | (digits & High));
            default:
                if ((digits & High) != 0)
                {
                    return To(ref escape, LowBackslash, 0);
                }
                escape = 0;
                return EscapeStep.Done;
        }
    }

    // A digit of the low surrogate's \uXXXX that must follow a high one (DC00..DFFF).
    private static EscapeStep LowHexDigit(ref byte escape, int digits, byte b)
    {
        int v = HexValue(b);
        if (v < 0 || (digits == 0 && v != 0xD) || (digits == 1 && v < 0xC))
        {
            return EscapeStep.Refused;
        }
        if (digits < 3)
        {
            return To(ref escape, LowHex, digits + 1);
        }
        escape = 0;
        return EscapeStep.Done;
    }
}
