using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>
/// HF "Split" with behavior Isolated (and ByteLevel's GPT-2 split) as a Microsoft.ML.Tokenizers
/// <see cref="PreTokenizer"/>: every regex match and every gap between matches is a word. The package's own
/// RegexPreTokenizer drops the gaps and matches UTF-16 units, so <c>\p{L}</c> misses astral letters (U+20000 …);
/// <see cref="CodePointRegex"/> matches on code points as HF does.
/// </summary>
internal sealed class RegexSplitPreTokenizer(CodePointRegex regex) : PreTokenizer
{
    public CodePointRegex Regex => regex;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    /// <summary>The words of <paramref name="text"/> in order, as (offset, length).</summary>
    internal List<(int Offset, int Length)> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var matches = new List<(int Start, int Length)>(text.Length / 4 + 1);
        regex.Matches(text, matches);
        var words = new List<(int Offset, int Length)>(matches.Count + 1);
        int prev = 0;
        foreach ((int start, int length) in matches)
        {
            if (length == 0)
            {
                continue;
            }
            if (start > prev)
            {
                words.Add((prev, start - prev));
            }
            words.Add((start, length));
            prev = start + length;
        }
        if (prev < text.Length)
        {
            words.Add((prev, text.Length - prev));
        }
        return words;
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
}
