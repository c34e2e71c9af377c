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

    /// <summary><paramref name="text"/>'s UTF-8 bytes in the alphabet, as a new string (a long word merged whole).</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        char[] buffer = System.Buffers.ArrayPool<char>.Shared.Rent(Math.Max(1, text.Length * 3));
        try
        {
            return new string(buffer, 0, Encode(text, buffer));
        }
        finally
        {
            System.Buffers.ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes the UTF-8 bytes of <paramref name="text"/>, each as its alphabet char, to <paramref name="destination"/>
    /// (at least 3 chars per input char) and returns how many it wrote.
    /// </summary>
    public static int Encode(ReadOnlySpan<char> text, Span<char> destination)
    {
        if (System.Text.Ascii.IsValid(text))
        {
            for (int i = 0; i < text.Length; i++)
            {
                destination[i] = ByteToChar[text[i]];
            }
            return text.Length;
        }
        Span<byte> bytes = text.Length <= 256 ? stackalloc byte[text.Length * 3] : new byte[text.Length * 3];
        int n = System.Text.Encoding.UTF8.GetBytes(text, bytes);
        for (int i = 0; i < n; i++)
        {
            destination[i] = ByteToChar[bytes[i]];
        }
        return n;
    }
}
