namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>When Metaspace prepends the replacement char.</summary>
internal enum PrependScheme
{
    Always,
    First,
    Never,
}

/// <summary>
/// HF "Metaspace" (SentencePiece style): spaces become the replacement char ("▁"), which is prepended per
/// <see cref="PrependScheme"/>; with split, each "▁" starts a new word (HF's MergedWithNext split).
/// </summary>
internal sealed class MetaspacePreTokenizer
{
    private readonly string _replacement;
    private readonly PrependScheme _scheme;
    private readonly bool _split;

    public MetaspacePreTokenizer(string replacement, PrependScheme scheme, bool split)
    {
        _replacement = replacement;
        _scheme = scheme;
        _split = split;
    }

    /// <summary>
    /// The rewritten piece and its words. <paramref name="prepended"/> is the number of chars put in front (0 or the
    /// replacement's length), so offsets in the result minus it are offsets in the piece. <paramref name="atStart"/>:
    /// the piece begins the input (prepend_scheme "first").
    /// </summary>
    public string Apply(string piece, bool atStart, List<(int Start, int Length)> words, out int prepended)
    {
        string text = piece.Replace(" ", _replacement, StringComparison.Ordinal);
        bool prepend = _scheme switch
        {
            PrependScheme.Always => true,
            PrependScheme.First => atStart,
            _ => false,
        };
        prepended = 0;
        if (prepend && !text.StartsWith(_replacement, StringComparison.Ordinal))
        {
            text = _replacement + text;
            prepended = _replacement.Length;
        }
        if (text.Length == 0)
        {
            return text;
        }
        if (!_split)
        {
            words.Add((0, text.Length));
            return text;
        }
        // MergedWithNext: a "▁" run's last "▁" starts the next word; a "▁" followed by another "▁" stands alone.
        int start = 0;
        for (int i = text.IndexOf(_replacement, StringComparison.Ordinal); i >= 0;
             i = text.IndexOf(_replacement, i + _replacement.Length, StringComparison.Ordinal))
        {
            if (i > start)
            {
                words.Add((start, i - start));
                start = i;
            }
        }
        words.Add((start, text.Length - start));
        return text;
    }
}
