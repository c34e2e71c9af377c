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
        var words = new List<(int Offset, int Length)>();
        ForEachWord(text, (offset, length) => words.Add((offset, length)));
        return words;
    }

    /// <summary>
    /// Calls <paramref name="onWord"/> with (offset, length) of each word of <paramref name="text"/> in order, as the
    /// regex finds it: encoding a long text holds no list of its words.
    /// </summary>
    internal void ForEachWord(string text, Action<int, int> onWord)
    {
        ArgumentNullException.ThrowIfNull(text);
        int prev = 0;
        regex.ForEachMatch(text, (start, length) =>
        {
            if (length == 0)
            {
                return;
            }
            if (start > prev)
            {
                onWord(prev, start - prev);
            }
            onWord(start, length);
            prev = start + length;
        });
        if (prev < text.Length)
        {
            onWord(prev, text.Length - prev);
        }
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
}
