namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>
/// HF "ByteLevel": optionally prefixes a space, optionally splits with the GPT-2 regex (Isolated), then rewrites
/// each piece's UTF-8 bytes in the byte-level alphabet. trim_offsets only affects offsets, which Copal does not expose.
/// </summary>
internal sealed class ByteLevelPreTokenizer : IPreTokenizer
{
    /// <summary>The GPT-2 pattern HF uses when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<CodePointRegex> s_gpt2 = new(() => new CodePointRegex(Gpt2Pattern, "ByteLevel"));
    private readonly bool _addPrefixSpace;
    private readonly bool _useRegex;

    public ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _useRegex = useRegex;
    }

    public void PreTokenize(Piece piece, List<Piece> output)
    {
        if (_addPrefixSpace && !piece.Text.StartsWith(' '))
        {
            piece = piece with { Text = " " + piece.Text };
        }
        if (!_useRegex)
        {
            if (piece.Text.Length > 0)
            {
                output.Add(piece with { Text = ByteLevelAlphabet.Encode(piece.Text) });
            }
            return;
        }
        var matches = new List<(int Start, int Length)>();
        s_gpt2.Value.Matches(piece.Text, matches);
        var split = new List<Piece>(matches.Count + 1);
        Splitter.Split(piece, matches, SplitBehavior.Isolated, invert: false, split);
        foreach (Piece p in split)
        {
            output.Add(p with { Text = ByteLevelAlphabet.Encode(p.Text) });
        }
    }
}
