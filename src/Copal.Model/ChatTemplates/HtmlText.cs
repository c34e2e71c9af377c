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
/// Python's text (nor for <c>&amp;#128;</c> to <c>&amp;#159;</c>, which Python reads as Windows-1252).
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

    // MarkupSafe's loop: from the first opening, cut to the end of the next closing after it; stop at one left open.
    private static string RemoveClosed(string value, string open, string close)
    {
        int start;
        while ((start = value.IndexOf(open, StringComparison.Ordinal)) >= 0)
        {
            int end = value.IndexOf(close, start, StringComparison.Ordinal);
            if (end < 0)
            {
                break;
            }
            value = string.Concat(value.AsSpan(0, start), value.AsSpan(end + close.Length));
        }
        return value;
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
                sb.Append(CharacterReference(s[digitsStart..end], hex, s[i..end], where));
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

    private static string CharacterReference(string digits, bool hex, string written, Func<string> where)
    {
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
            >= 0x80 and <= 0x9F => throw new ChatTemplateException($"chat template {where()}: striptags of text with the character reference '{written}' is not supported (Python reads it as Windows-1252)"),
            (>= 0xD800 and <= 0xDFFF) or > 0x10FFFF => "\uFFFD",
            (>= 0x01 and <= 0x08) or 0x0B or (>= 0x0E and <= 0x1F) or 0x7F or (>= 0xFDD0 and <= 0xFDEF) => "",
            _ when (n & 0xFFFE) == 0xFFFE => "",
            _ => char.ConvertFromUtf32((int)n),
        };
    }
}
