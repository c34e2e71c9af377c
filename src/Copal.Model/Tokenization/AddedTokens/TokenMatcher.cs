namespace Copal.Model.Tokenization.AddedTokens;

/// <summary>
/// Leftmost-longest multi-pattern search over added-token contents (what HF's Aho-Corasick with LeftmostLongest
/// gives). Patterns are grouped by first char; added tokens are few, so a scan over candidates is fast enough.
/// </summary>
internal sealed class TokenMatcher
{
    private readonly Dictionary<char, (string Pattern, AddedToken Token)[]> _byFirstChar;
    private readonly System.Buffers.SearchValues<char> _firstChars;

    public TokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> patterns)
    {
        // Longest first so the first hit at a position is the longest one.
        _byFirstChar = patterns.Where(p => p.Pattern.Length > 0)
            .GroupBy(p => p.Pattern[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p.Pattern.Length).ToArray());
        Count = _byFirstChar.Values.Sum(a => a.Length);
        _firstChars = System.Buffers.SearchValues.Create(_byFirstChar.Keys.ToArray());
    }

    public int Count { get; }

    public bool FindLeftmostLongest(string text, int from, out int start, out int stop, out AddedToken token)
    {
        ReadOnlySpan<char> span = text.AsSpan();
        for (int i = from; i < text.Length;)
        {
            int rel = span[i..].IndexOfAny(_firstChars);
            if (rel < 0)
            {
                break;
            }
            i += rel;
            foreach ((string pattern, AddedToken t) in _byFirstChar[text[i]])
            {
                if (span[i..].StartsWith(pattern, StringComparison.Ordinal))
                {
                    start = i;
                    stop = i + pattern.Length;
                    token = t;
                    return true;
                }
            }
            i++;
        }
        start = stop = -1;
        token = null!;
        return false;
    }
}
