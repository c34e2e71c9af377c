using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Jinja2's <c>striptags</c>: MarkupSafe 3's <c>Markup.striptags</c> of the value's text. Comments (<c>&lt;!--</c> to the
/// next <c>--&gt;</c>) go first, then tags (<c>&lt;</c> to the next <c>&gt;</c>), each only when closed; runs of Python's
/// whitespace become one space, the ends none; then <c>html.unescape</c>. Character references are decoded as Python
/// decodes them, and the named ones <c>&amp;amp; &amp;lt; &amp;gt; &amp;quot; &amp;apos; &amp;nbsp;</c>. Any other
/// <c>&amp;name</c> is refused, naming it: Python reads it against HTML5's table of 2,231 names, also as a prefix
/// without the semicolon (<c>&amp;ampx</c> is <c>&amp;x</c>), which the renderer does not hold, so it cannot promise
/// Python's text. <c>&amp;#128;</c> to <c>&amp;#159;</c> are Windows-1252's characters, as HTML5 and Python read them;
/// a decimal reference of more than 4,300 digits is refused, as Python's <c>int()</c> raises for it.
/// </summary>
internal static class HtmlText
{
    private static readonly Dictionary<string, string> s_named = new(StringComparer.Ordinal)
    {
        ["amp;"] = "&", ["lt;"] = "<", ["gt;"] = ">", ["quot;"] = "\"", ["apos;"] = "'", ["nbsp;"] = "\u00A0",
    };

    public static string StripTags(string value, Func<string> where)
    {
        value = RemoveClosed(value, "<!--", "-->");
        value = RemoveClosed(value, "<", ">");
        var words = new List<string>();
        int i = 0;
        while (i < value.Length)
        {
            while (i < value.Length && PyStr.IsSpace(value[i]))
            {
                i++;
            }
            int start = i;
            while (i < value.Length && !PyStr.IsSpace(value[i]))
            {
                i++;
            }
            if (i > start)
            {
                words.Add(value[start..i]);
            }
        }
        return Unescape(string.Join(' ', words), where);
    }

    // MarkupSafe's loop (from the first opening, cut to the end of the next closing after it; stop at one left open)
    // in one pass: MarkupSafe rebuilds the whole string per cut, which over 16M characters of tags would run for
    // hours. What is kept never holds an opening, but its last characters and the rest may join into one after a
    // cut ('<!<!---->--' leaves '<!--'), so an opening is looked for across that seam first.
    private static string RemoveClosed(string value, string open, string close)
    {
        var kept = new StringBuilder(value.Length);
        int rest = 0;
        while (true)
        {
            int seam = SeamOpening(kept, value, rest, open);
            if (seam >= 0)
            {
                // The opening starts in what is kept; its closing may start there too ('<!-->' closes itself).
                string head = kept.ToString(seam, kept.Length - seam);
                int end = ClosingAcross(head, value, rest, close);
                if (end < 0)
                {
                    break;
                }
                kept.Length = seam;
                rest = end;
                continue;
            }
            int start = value.IndexOf(open, rest, StringComparison.Ordinal);
            int closing = start < 0 ? -1 : value.IndexOf(close, start, StringComparison.Ordinal);
            if (closing < 0)
            {
                break;
            }
            kept.Append(value, rest, start - rest);
            rest = closing + close.Length;
        }
        return kept.Append(value, rest, value.Length - rest).ToString();
    }

    // Where in `kept` an opening begins that runs on into value[rest..], or -1.
    private static int SeamOpening(StringBuilder kept, string value, int rest, string open)
    {
        for (int at = Math.Max(0, kept.Length - (open.Length - 1)); at < kept.Length; at++)
        {
            int inKept = kept.Length - at;
            if (value.Length - rest >= open.Length - inKept && Enumerable.Range(0, open.Length)
                .All(k => (k < inKept ? kept[at + k] : value[rest + k - inKept]) == open[k]))
            {
                return at;
            }
        }
        return -1;
    }

    // The index in value just past the first closing at or after the start of head + value[rest..], or -1.
    private static int ClosingAcross(string head, string value, int rest, string close)
    {
        for (int at = 0; at < head.Length; at++)
        {
            int inHead = head.Length - at;
            if (value.Length - rest >= close.Length - Math.Min(inHead, close.Length) && Enumerable.Range(0, close.Length)
                .All(k => (k < inHead ? head[at + k] : value[rest + k - inHead]) == close[k]))
            {
                return rest + close.Length - inHead;
            }
        }
        int found = value.IndexOf(close, rest, StringComparison.Ordinal);
        return found < 0 ? -1 : found + close.Length;
    }

    // Python's html.unescape: &#digits, &#xhex (the semicolon optional) and &name (up to 32 characters but tab, newline,
    // form feed, space, <, &, # and ;, then an optional semicolon).
    private static string Unescape(string s, Func<string> where)
    {
        if (!s.Contains('&', StringComparison.Ordinal))
        {
            return s;
        }
        var sb = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            if (s[i] != '&' || i + 1 >= s.Length)
            {
                sb.Append(s[i++]);
                continue;
            }
            int at = i + 1;
            if (s[at] == '#')
            {
                bool hex = at + 1 < s.Length && s[at + 1] is 'x' or 'X';
                int digitsStart = at + (hex ? 2 : 1), end = digitsStart;
                while (end < s.Length && (hex ? char.IsAsciiHexDigit(s[end]) : char.IsAsciiDigit(s[end])))
                {
                    end++;
                }
                if (end == digitsStart)
                {
                    sb.Append(s[i++]);
                    continue;
                }
                sb.Append(CharacterReference(s[digitsStart..end], hex, where));
                i = end < s.Length && s[end] == ';' ? end + 1 : end;
                continue;
            }
            int nameEnd = at;
            while (nameEnd < s.Length && nameEnd - at < 32 && s[nameEnd] is not ('\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';'))
            {
                nameEnd++;
            }
            if (nameEnd == at)
            {
                sb.Append(s[i++]);
                continue;
            }
            if (nameEnd < s.Length && s[nameEnd] == ';')
            {
                nameEnd++;
            }
            string name = s[at..nameEnd];
            sb.Append(s_named.TryGetValue(name, out string? text) ? text
                : throw new ChatTemplateException($"chat template {where()}: striptags of text with the HTML entity '&{name}' is not supported (Python decodes it by HTML5's table of names)"));
            i = nameEnd;
        }
        return sb.ToString();
    }

    // Python's int() of a decimal string longer than this raises ValueError (sys.int_info.default_max_str_digits,
    // Python 3.11 on), so html.unescape raises for such a reference; hexadecimal digits have no limit.
    private const int MaxDecimalDigits = 4300;

    // HTML5's replacements for the references &#128; to &#159; (Windows-1252's characters; the five it leaves
    // undefined stay themselves), as Python's html.unescape applies them.
    private const string Windows1252 =
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F" +
        "\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178";

    private static string CharacterReference(string digits, bool hex, Func<string> where)
    {
        if (!hex && digits.Length > MaxDecimalDigits)
        {
            throw new ChatTemplateException(FormattableString.Invariant(
                $"chat template {where()}: striptags of text with a character reference of {digits.Length} decimal digits (Python's int() refuses more than {MaxDecimalDigits}: ValueError)"));
        }
        string significant = digits.TrimStart('0');
        if (significant.Length > 8)
        {
            return "\uFFFD";
        }
        long n = significant.Length == 0 ? 0 : long.Parse(significant, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture);
        return n switch
        {
            0 => "\uFFFD",
            0x0D => "\r",
            >= 0x80 and <= 0x9F => Windows1252[(int)n - 0x80].ToString(),
            (>= 0xD800 and <= 0xDFFF) or > 0x10FFFF => "\uFFFD",
            (>= 0x01 and <= 0x08) or 0x0B or (>= 0x0E and <= 0x1F) or 0x7F or (>= 0xFDD0 and <= 0xFDEF) => "",
            _ when (n & 0xFFFE) == 0xFFFE => "",
            _ => char.ConvertFromUtf32((int)n),
        };
    }
}
