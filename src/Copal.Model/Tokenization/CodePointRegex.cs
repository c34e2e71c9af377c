using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Copal.Model.Tokenization;

/// <summary>
/// A regex from tokenizer.json run with the semantics of HF tokenizers (Rust/Oniguruma work on code points):
/// <list type="bullet">
/// <item>.NET regex sees UTF-16 units, so <c>\p{L}</c> would not match an astral letter. Text that holds surrogate
/// pairs is matched on a stand-in string with one char per code point: each astral code point becomes a BMP char of
/// the same Unicode general category (not whitespace, not ASCII), so category classes, <c>\s</c> and negated classes
/// match exactly as on the code point; match offsets are mapped back.</item>
/// <item>.NET's case-insensitive matching lacks the simple case fold ſ (U+017F) ↔ s that Rust and JS apply; inside
/// <c>(?i:…)</c> a literal s/S is widened to <c>[sSſ]</c>.</item>
/// </list>
/// .NET <c>\s</c> is exactly Unicode White_Space, as in Rust. Patterns with astral literals are rejected.
/// </summary>
internal sealed partial class CodePointRegex
{
    private static readonly char[] s_standIn = BuildStandIns();
    private const RegexOptions Options = RegexOptions.CultureInvariant;
    // One instance per encode in flight: a shared one builds a runner per match whenever two encodes meet (RegexPool).
    private readonly RegexPool _regexes;

    public CodePointRegex(string pattern, string where)
    {
        foreach (char c in pattern)
        {
            if (char.IsSurrogate(c))
            {
                throw new TokenizerException($"{where}: regex '{pattern}' holds an astral literal; only BMP literals are supported");
            }
        }
        Pattern = pattern;
        try
        {
            string widened = WidenCaseFolds(pattern);
            _regexes = Known(widened) ?? new RegexPool(new Regex(widened, Options | RegexOptions.Compiled), widened, Options);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerException($"{where}: regex '{pattern}' is not supported by .NET regex: {e.Message}", e);
        }
    }

    public string Pattern { get; }

    /// <summary>The GPT-2 pattern HF's ByteLevel pre-tokenizer uses when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // The split patterns of GPT-2, Llama-3 (= cl100k) and Qwen2/3, after WidenCaseFolds, compiled at build time by the
    // regex source generator: building them with RegexOptions.Compiled at run time cost a large part of the first
    // encode in a fresh process.
    private const string Llama3Widened = @"(?i:'[sS\u017F]|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string QwenWidened = @"(?i:'[sS\u017F]|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [GeneratedRegex(Gpt2Pattern, Options)]
    private static partial Regex Gpt2Regex();

    [GeneratedRegex(Llama3Widened, Options)]
    private static partial Regex Llama3Regex();

    [GeneratedRegex(QwenWidened, Options)]
    private static partial Regex QwenRegex();

    // The generated regexes are one object each in the process, whatever tokenizers use them, so their pools are too.
    private static readonly Lazy<RegexPool> s_gpt2 = new(() => new RegexPool(Gpt2Regex(), Gpt2Pattern, Options));
    private static readonly Lazy<RegexPool> s_llama3 = new(() => new RegexPool(Llama3Regex(), Llama3Widened, Options));
    private static readonly Lazy<RegexPool> s_qwen = new(() => new RegexPool(QwenRegex(), QwenWidened, Options));

    private static RegexPool? Known(string widened) => widened switch
    {
        Gpt2Pattern => s_gpt2.Value,
        _ when widened == Llama3Widened.Replace("\\u017F", "\u017F", StringComparison.Ordinal) => s_llama3.Value,
        _ when widened == QwenWidened.Replace("\\u017F", "\u017F", StringComparison.Ordinal) => s_qwen.Value,
        _ => null,
    };

    /// <summary>Appends (start, length) of every match, in UTF-16 offsets of <paramref name="text"/>.</summary>
    public void Matches(string text, List<(int Start, int Length)> output) => ForEachMatch(text, (start, length) => output.Add((start, length)));

    /// <summary>
    /// Calls <paramref name="onMatch"/> with (start, length) of every match in order, in UTF-16 offsets of
    /// <paramref name="text"/>, as the regex finds them: a tokenizer encodes each word then, so a long text's words are
    /// never held in a list (two of them came to 4 bytes a character).
    /// </summary>
    public void ForEachMatch(string text, Action<int, int> onMatch)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(onMatch);
        Regex regex = _regexes.Rent();
        try
        {
            ForEachMatch(regex, text, onMatch);
        }
        finally
        {
            _regexes.Return(regex);
        }
    }

    private static void ForEachMatch(Regex regex, string text, Action<int, int> onMatch)
    {
        int pairs = SurrogatePairs(text);
        if (pairs == 0)
        {
            foreach (ValueMatch m in regex.EnumerateMatches(text))
            {
                onMatch(m.Index, m.Length);
            }
            return;
        }
        // One char per code point (one copy of the text); matches come in order, so a cursor maps their stand-in
        // offsets back to the text's without a table of an offset per character.
        string mapped = StandIn(text, text.Length - pairs);
        int mappedAt = 0, textAt = 0;
        int TextOffset(int mappedOffset)
        {
            for (; mappedAt < mappedOffset; mappedAt++)
            {
                textAt += IsPairAt(text, textAt) ? 2 : 1;
            }
            return textAt;
        }
        foreach (ValueMatch m in regex.EnumerateMatches(mapped))
        {
            int start = TextOffset(m.Index);
            onMatch(start, TextOffset(m.Index + m.Length) - start);
        }
    }

    private static bool IsPairAt(string text, int i) => char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);

    // The surrogate pairs of text: each is one code point, one stand-in char. A lone surrogate stays a char of its own.
    private static int SurrogatePairs(string text)
    {
        int pairs = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (IsPairAt(text, i))
            {
                pairs++;
                i++;
            }
        }
        return pairs;
    }

    // Each astral code point becomes the BMP stand-in of its general category; every other char is kept.
    private static string StandIn(string text, int length) => string.Create(length, text, static (chars, text) =>
    {
        int o = 0;
        for (int i = 0; i < text.Length; i++, o++)
        {
            if (IsPairAt(text, i))
            {
                chars[o] = s_standIn[(int)CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))];
                i++;
            }
            else
            {
                chars[o] = text[i];
            }
        }
    });

    public string Replace(string text, string replacement)
    {
        var spans = new List<(int Start, int Length)>();
        Matches(text, spans);
        if (spans.Count == 0)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length);
        int prev = 0;
        foreach ((int start, int length) in spans)
        {
            sb.Append(text, prev, start - prev).Append(replacement);
            prev = start + length;
        }
        return sb.Append(text, prev, text.Length - prev).ToString();
    }

    private static char[] BuildStandIns()
    {
        var table = new char[32];
        // Start above Latin-1 so no stand-in equals an ASCII literal or a case variant of one.
        for (int c = 0x100; c < 0xFFFF; c++)
        {
            if (char.IsSurrogate((char)c) || char.IsWhiteSpace((char)c) || c == 0x212A || c == 0x17F)
            {
                continue;
            }
            var cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (table[cat] == '\0')
            {
                table[cat] = (char)c;
            }
        }
        return table;
    }

    /// <summary>Inside (?i: … ) groups, turns a bare s/S outside character classes into [sSſ].</summary>
    internal static string WidenCaseFolds(string pattern)
    {
        var sb = new StringBuilder(pattern.Length + 8);
        var groupIsCi = new Stack<bool>();
        bool ci = false, inClass = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                sb.Append(c).Append(pattern[++i]);
                continue;
            }
            if (inClass)
            {
                inClass = c != ']';
                sb.Append(c);
                continue;
            }
            switch (c)
            {
                case '[':
                    inClass = true;
                    sb.Append(c);
                    break;
                case '(':
                    groupIsCi.Push(ci);
                    if (string.CompareOrdinal(pattern, i, "(?i:", 0, 4) == 0)
                    {
                        ci = true;
                    }
                    sb.Append(c);
                    break;
                case ')':
                    ci = groupIsCi.Count > 0 ? groupIsCi.Pop() : ci;
                    sb.Append(c);
                    break;
                case 's' or 'S' when ci:
                    sb.Append("[sS\u017F]");
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}
