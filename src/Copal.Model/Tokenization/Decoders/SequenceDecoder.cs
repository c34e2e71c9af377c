namespace Copal.Model.Tokenization.Decoders;

/// <summary>Applies decoders in order, each to the output of the previous one.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<IDecoder> steps) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (IDecoder d in steps)
        {
            tokens = d.DecodeChain(tokens);
        }
        return tokens;
    }

    public string Piece(string token)
    {
        foreach (IDecoder d in steps)
        {
            token = d.Piece(token);
        }
        return token;
    }

    // The first step that makes bytes of the token, as it reaches that step.
    public byte[]? Bytes(string token)
    {
        foreach (IDecoder d in steps)
        {
            if (d.Bytes(token) is byte[] bytes)
            {
                return bytes;
            }
            token = d.Piece(token);
        }
        return null;
    }
}
