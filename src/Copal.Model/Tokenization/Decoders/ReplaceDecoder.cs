namespace Copal.Model.Tokenization.Decoders;

/// <summary>HF "Replace" decoder: replaces a literal or regex in every token (Llama: "▁" → " ").</summary>
internal sealed class ReplaceDecoder(string? literal, CodePointRegex? regex, string content) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        foreach (string t in tokens)
        {
            result.Add(literal is not null
                ? (literal.Length == 0 ? t : t.Replace(literal, content, StringComparison.Ordinal))
                : regex!.Replace(t, content));
        }
        return result;
    }
}
