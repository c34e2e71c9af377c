using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.AddedTokens;

/// <summary>
/// Finds added tokens in text before the model runs, with HF AddedVocabulary semantics: non-overlapping,
/// leftmost-longest matches; a single_word token only matches between non-word chars; lstrip / rstrip absorb
/// whitespace beside the match. Non-normalized tokens are matched on raw text, normalized tokens on normalized text
/// (against their own normalized content).
/// </summary>
internal sealed partial class AddedVocabulary
{
    private readonly Dictionary<int, AddedToken> _byId = [];
    private readonly Dictionary<string, int> _byContent = new(StringComparer.Ordinal);
    private readonly TokenMatcher _raw;
    private readonly TokenMatcher _normalized;

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, Normalizer? normalizer)
    {
        foreach (AddedToken t in tokens)
        {
            _byId[t.Id] = t;
            _byContent[t.Content] = t.Id;
        }
        _raw = new TokenMatcher(tokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalized = new TokenMatcher(tokens.Where(t => t.Normalized)
            .Select(t => (normalizer?.Normalize(t.Content) ?? t.Content, t)));
    }

    public IReadOnlyCollection<AddedToken> Tokens => _byId.Values;

    public AddedToken? ById(int id) => _byId.GetValueOrDefault(id);

    public int? IdOf(string content) => _byContent.TryGetValue(content, out int id) ? id : null;

    public bool HasNormalizedTokens => _normalized.Count > 0;

    /// <summary>Splits raw text on non-normalized added tokens.</summary>
    public void SplitRaw(string text, List<Segment> output) => Split(text, _raw, output);

    /// <summary>Splits normalized text on normalized added tokens.</summary>
    public void SplitNormalized(string text, List<Segment> output) => Split(text, _normalized, output);

    /// <summary>A span of the text: an added token's id, or -1 for text the model must tokenize.</summary>
    internal readonly record struct Segment(int Start, int End, int TokenId);

    private static void Split(string text, TokenMatcher matcher, List<Segment> output)
    {
        if (text.Length == 0 || matcher.Count == 0)
        {
            output.Add(new Segment(0, text.Length, -1));
            return;
        }
        int startOffset = 0;
        int searchFrom = 0;
        while (matcher.FindLeftmostLongest(text, searchFrom, out int start, out int stop, out AddedToken token))
        {
            searchFrom = stop;
            if (token.SingleWord)
            {
                bool startOk = start == 0 || !IsWordChar(text, start - 1, before: true);
                bool stopOk = stop == text.Length || !IsWordChar(text, stop, before: false);
                if (!startOk || !stopOk)
                {
                    continue;
                }
            }
            if (token.LStrip)
            {
                int s = start;
                while (s > 0 && char.IsWhiteSpace(text[s - 1]))
                {
                    s--;
                }
                // Whitespace already claimed by the previous match stays with it.
                start = Math.Max(s, startOffset);
            }
            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop]))
                {
                    stop++;
                }
                searchFrom = stop;
            }
            if (startOffset < start)
            {
                output.Add(new Segment(startOffset, start, -1));
            }
            output.Add(new Segment(start, stop, token.Id));
            startOffset = stop;
        }
        if (startOffset < text.Length)
        {
            output.Add(new Segment(startOffset, text.Length, -1));
        }
    }

    /// <summary>Regex \w on the code point just before (or at) the index, as HF's \w$ / ^\w checks.</summary>
    private static bool IsWordChar(string text, int index, bool before)
    {
        int len = 1;
        if (before && index > 0 && char.IsLowSurrogate(text[index]) && char.IsHighSurrogate(text[index - 1]))
        {
            index--;
            len = 2;
        }
        else if (!before && char.IsHighSurrogate(text[index]) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            len = 2;
        }
        string ch = text.Substring(index, len);
        if (len == 2)
        {
            var cat = char.GetUnicodeCategory(ch, 0);
            return char.IsLetterOrDigit(ch, 0) || cat is System.Globalization.UnicodeCategory.NonSpacingMark
                or System.Globalization.UnicodeCategory.ConnectorPunctuation;
        }
        return WordChar().IsMatch(ch);
    }

    [GeneratedRegex(@"^\w$", RegexOptions.CultureInvariant)]
    private static partial Regex WordChar();
}
