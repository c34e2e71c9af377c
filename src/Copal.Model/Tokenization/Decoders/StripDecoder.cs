namespace Copal.Model.Tokenization.Decoders;

/// <summary>HF "Strip" decoder: removes up to <c>start</c> leading and <c>stop</c> trailing copies of a char from each token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        foreach (string t in tokens)
        {
            int from = 0;
            while (from < start && from < t.Length && t[from] == content)
            {
                from++;
            }
            int to = t.Length;
            while (t.Length - to < stop && to > from && t[to - 1] == content)
            {
                to--;
            }
            result.Add(t[from..to]);
        }
        return result;
    }

    // Strip takes the start and end off a whole text (it follows Fuse), not off a piece of it.
    public string Piece(string token) => token;
}
