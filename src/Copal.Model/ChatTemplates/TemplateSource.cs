using System.Text;
using System.Text.RegularExpressions;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// The template text after the whitespace rules that @huggingface/jinja (and so transformers.js) applies before lexing,
/// with a map from every remaining character back to its offset in the original text, so errors can name the original
/// line and column. The rules, in order: one trailing newline is dropped; lstrip_blocks (spaces and tabs from the start
/// of a line up to a <c>{%</c>, <c>{#</c> or <c>{-</c>); trim_blocks (the newline right after <c>%}</c>, <c>#}</c> or
/// <c>-}</c>); and the transformers-specific <c>{% generation %}</c>/<c>{% endgeneration %}</c> tags are removed,
/// with the whitespace around them where the tag has <c>-</c>.
/// </summary>
internal sealed partial class TemplateSource
{
    private readonly string _original;
    private readonly int[] _map;

    /// <summary>The template as the model gives it, before any rewriting for the parser.</summary>
    public string Original => _original;

    public TemplateSource(string original)
    {
        _original = original;
        var text = new StringBuilder(original);
        var map = new List<int>(original.Length);
        for (int i = 0; i < original.Length; i++)
        {
            map.Add(i);
        }
        if (text.Length > 0 && text[^1] == '\n')
        {
            text.Length--;
            map.RemoveAt(map.Count - 1);
        }
        Remove(text, map, LstripBlocks(), _ => [(0, -1)]);
        Remove(text, map, TrimBlocks(), _ => [(0, -1)]);
        Remove(text, map, GenerationTag(), m =>
        {
            var ranges = new List<(int Start, int Length)>
            {
                (m.Groups["tag"].Index - m.Index, m.Groups["tag"].Length),
            };
            if (m.Groups["l"].Length > 0)
            {
                ranges.Add((m.Groups["before"].Index - m.Index, m.Groups["before"].Length));
            }
            if (m.Groups["r"].Length > 0)
            {
                ranges.Add((m.Groups["after"].Index - m.Index, m.Groups["after"].Length));
            }
            return ranges;
        });
        Text = text.ToString();
        _map = [.. map];
    }

    /// <summary>The text the lexer reads.</summary>
    public string Text { get; }

    /// <summary>"line L, column C" of a position in <see cref="Text"/>, counted in the original template.</summary>
    public string Where(int position)
    {
        int offset = position < _map.Length ? _map[position] : _original.Length;
        int line = 1;
        int lineStart = 0;
        for (int i = 0; i < offset && i < _original.Length; i++)
        {
            if (_original[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }
        return $"line {line}, column {offset - lineStart + 1}";
    }

    /// <summary>Removes, for every match, the given (start relative to the match, length) ranges; length -1 = the whole match.</summary>
    private static void Remove(StringBuilder text, List<int> map, Regex regex, Func<Match, List<(int Start, int Length)>> ranges)
    {
        string current = text.ToString();
        var drop = new bool[current.Length];
        bool any = false;
        foreach (Match m in regex.Matches(current))
        {
            foreach ((int start, int length) in ranges(m))
            {
                int n = length < 0 ? m.Length : length;
                for (int i = 0; i < n; i++)
                {
                    drop[m.Index + start + i] = true;
                    any = true;
                }
            }
        }
        if (!any)
        {
            return;
        }
        text.Clear();
        var kept = new List<int>(map.Count);
        for (int i = 0; i < current.Length; i++)
        {
            if (!drop[i])
            {
                text.Append(current[i]);
                kept.Add(map[i]);
            }
        }
        map.Clear();
        map.AddRange(kept);
    }

    // JavaScript's \s (ECMAScript WhiteSpace and LineTerminator); .NET's \s differs (it has U+0085, lacks U+FEFF).
    private const string JsSpace = @"[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]";

    // /^[ \t]*({[#%-])/gm: JavaScript's multiline ^ also matches after \r, U+2028 and U+2029.
    [GeneratedRegex(@"(?<=^|[\n\r\u2028\u2029])[ \t]+(?=\{[#%-])")]
    private static partial Regex LstripBlocks();

    [GeneratedRegex(@"(?<=[#%-]\})\n")]
    private static partial Regex TrimBlocks();

    [GeneratedRegex(@"(?<before>" + JsSpace + @"*)(?<tag>\{%(?<l>-?)" + JsSpace + @"*(?:end)?generation" + JsSpace + @"*(?<r>-?)%\})(?<after>" + JsSpace + "*)")]
    private static partial Regex GenerationTag();
}
