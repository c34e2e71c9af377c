namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>
/// GPT-2's reversible byte ↔ char map: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100….
/// Byte-level vocabularies are written in these chars (space = 'Ġ', newline = 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Char for each byte.</summary>
    public static readonly char[] ByteToChar = Build();

    /// <summary>Byte for each char below U+0144, or -1.</summary>
    public static readonly short[] CharToByte = BuildReverse();

    private static char[] Build()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildReverse()
    {
        var rev = new short[0x144];
        Array.Fill(rev, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            rev[ByteToChar[b]] = (short)b;
        }
        return rev;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each as its alphabet char.</summary>
    public static string Encode(string text) => Encode(text.AsSpan());

    /// <inheritdoc cref="Encode(string)"/>
    public static string Encode(ReadOnlySpan<char> text)
    {
        if (!System.Text.Ascii.IsValid(text))
        {
            int n = System.Text.Encoding.UTF8.GetByteCount(text);
            byte[] bytes = new byte[n];
            System.Text.Encoding.UTF8.GetBytes(text, bytes);
            return string.Create(n, bytes, static (dst, src) =>
            {
                for (int i = 0; i < src.Length; i++)
                {
                    dst[i] = ByteToChar[src[i]];
                }
            });
        }
        // ASCII: one byte per char, no UTF-8 pass needed.
        Span<char> chars = text.Length <= 256 ? stackalloc char[text.Length] : new char[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            chars[i] = ByteToChar[text[i]];
        }
        return new string(chars);
    }
}
