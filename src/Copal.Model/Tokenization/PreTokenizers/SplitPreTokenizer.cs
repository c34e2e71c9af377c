namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>HF "Split": splits on a literal string or a regex with a delimiter behavior, optionally inverted.</summary>
internal sealed class SplitPreTokenizer : IPreTokenizer
{
    private readonly string? _literal;
    private readonly CodePointRegex? _regex;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;

    public SplitPreTokenizer(string? literal, CodePointRegex? regex, SplitBehavior behavior, bool invert)
    {
        _literal = literal;
        _regex = regex;
        _behavior = behavior;
        _invert = invert;
    }

    public void PreTokenize(Piece piece, List<Piece> output)
    {
        var matches = new List<(int Start, int Length)>();
        if (_regex is not null)
        {
            _regex.Matches(piece.Text, matches);
        }
        else if (_literal!.Length > 0)
        {
            for (int i = piece.Text.IndexOf(_literal, StringComparison.Ordinal); i >= 0;
                 i = piece.Text.IndexOf(_literal, i + _literal.Length, StringComparison.Ordinal))
            {
                matches.Add((i, _literal.Length));
            }
        }
        Splitter.Split(piece, matches, _behavior, _invert, output);
    }
}
