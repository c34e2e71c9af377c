namespace Copal.Model.Tokenization.Decoders;

/// <summary>
/// HF "Metaspace" decoder: the replacement char becomes a space; the first token loses one leading space when the
/// pre-tokenizer prepends (prepend_scheme not "never").
/// </summary>
internal sealed class MetaspaceDecoder(string replacement, bool stripFirstSpace) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i].Replace(replacement, " ", StringComparison.Ordinal);
            if (i == 0 && stripFirstSpace && t.StartsWith(' '))
            {
                t = t[1..];
            }
            result.Add(t);
        }
        return result;
    }

    public string Piece(string token) => token.Replace(replacement, " ", StringComparison.Ordinal);
}
