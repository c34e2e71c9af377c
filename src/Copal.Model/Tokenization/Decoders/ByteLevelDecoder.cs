using Copal.Model.Tokenization.PreTokenizers;

namespace Copal.Model.Tokenization.Decoders;

/// <summary>
/// HF "ByteLevel" decoder: maps alphabet chars back to bytes and decodes them as UTF-8 (lossy, U+FFFD for invalid
/// sequences). A token holding a char outside the alphabet (an added token such as "&lt;|im_start|&gt;" with
/// non-alphabet chars) contributes its own UTF-8 bytes.
/// </summary>
internal sealed class ByteLevelDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            AddBytes(token, bytes);
        }
        return [Utf8Text.DecodeLossy(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }

    public byte[]? Bytes(string token)
    {
        var bytes = new List<byte>(token.Length);
        AddBytes(token, bytes);
        return [.. bytes];
    }

    private static void AddBytes(string token, List<byte> bytes)
    {
        int mark = bytes.Count;
        foreach (char c in token)
        {
            short b = c < ByteLevelAlphabet.CharToByte.Length ? ByteLevelAlphabet.CharToByte[c] : (short)-1;
            if (b < 0)
            {
                bytes.RemoveRange(mark, bytes.Count - mark);
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
            bytes.Add((byte)b);
        }
    }
}
