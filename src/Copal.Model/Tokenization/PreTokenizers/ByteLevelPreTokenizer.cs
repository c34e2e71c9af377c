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
        string text = piece.Text;
        s_gpt2.Value.Matches(text, matches);
        // Isolated split, inlined: every match and every gap between matches is a word.
        int prev = 0;
        foreach ((int start, int length) in matches)
        {
            if (length == 0)
            {
                continue;
            }
            if (start > prev)
            {
                output.Add(new Piece(ByteLevelAlphabet.Encode(text.AsSpan(prev, start - prev)), piece.AtStart && prev == 0));
            }
            output.Add(new Piece(ByteLevelAlphabet.Encode(text.AsSpan(start, length)), piece.AtStart && start == 0));
            prev = start + length;
        }
        if (prev < text.Length)
        {
            output.Add(new Piece(ByteLevelAlphabet.Encode(text.AsSpan(prev)), piece.AtStart && prev == 0));
        }
    }
}
