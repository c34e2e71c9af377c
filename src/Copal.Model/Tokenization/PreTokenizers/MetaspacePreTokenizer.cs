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
/// <see cref="PrependScheme"/>; with split, each "▁" starts a new word (MergedWithNext).
/// </summary>
internal sealed class MetaspacePreTokenizer : IPreTokenizer
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

    public void PreTokenize(Piece piece, List<Piece> output)
    {
        string text = piece.Text.Replace(" ", _replacement, StringComparison.Ordinal);
        bool prepend = _scheme switch
        {
            PrependScheme.Always => true,
            PrependScheme.First => piece.AtStart,
            _ => false,
        };
        if (prepend && !text.StartsWith(_replacement, StringComparison.Ordinal))
        {
            text = _replacement + text;
        }
        piece = piece with { Text = text };
        if (!_split)
        {
            if (text.Length > 0)
            {
                output.Add(piece);
            }
            return;
        }
        var matches = new List<(int Start, int Length)>();
        for (int i = text.IndexOf(_replacement, StringComparison.Ordinal); i >= 0;
             i = text.IndexOf(_replacement, i + _replacement.Length, StringComparison.Ordinal))
        {
            matches.Add((i, _replacement.Length));
        }
        Splitter.Split(piece, matches, SplitBehavior.MergedWithNext, invert: false, output);
    }
}
