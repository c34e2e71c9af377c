using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's <c>float(text)</c>, which Jinja2's <c>float</c> filter calls (its default where Python raises ValueError):
/// the whole text, less Python's whitespace around it, is a decimal number (underscores only between digits, any
/// script's decimal digits), <c>inf</c>, <c>infinity</c> or <c>nan</c> in any case, each with an optional sign. The
/// reference's JavaScript <c>parseFloat</c> read a leading number (<c>'12abc'</c> as 12) and no <c>nan</c> or
/// <c>inf</c> (their float was 0.0).
/// </summary>
internal static class PyFloat
{
    /// <summary>The number, or null where Python's float() raises ValueError.</summary>
    public static double? Parse(string text)
    {
        string t = NumberText(text);
        if (t.Length == 0)
        {
            return null;
        }
        int i = t[0] is '+' or '-' ? 1 : 0;
        string word = t[i..].ToLowerInvariant();
        if (word is "inf" or "infinity")
        {
            return t[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
        }
        if (word == "nan")
        {
            return double.NaN;
        }
        var number = new StringBuilder(t.Length);
        number.Append(t, 0, i);
        int whole = Digits(t, ref i, number);
        int fraction = 0;
        if (i < t.Length && t[i] == '.')
        {
            number.Append('.');
            i++;
            fraction = Digits(t, ref i, number);
        }
        if (whole + fraction == 0)
        {
            return null;
        }
        if (i < t.Length && t[i] is 'e' or 'E')
        {
            number.Append('e');
            i++;
            if (i < t.Length && t[i] is '+' or '-')
            {
                number.Append(t[i++]);
            }
            if (Digits(t, ref i, number) == 0)
            {
                return null;
            }
        }
        // Past double's range is ±inf, as Python reads 1e400.
        return i == t.Length ? double.Parse(number.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture) : null;
    }

    // ASCII digits from i, an underscore allowed only between two of them; how many digits were read.
    private static int Digits(string t, ref int i, StringBuilder number)
    {
        int count = 0;
        while (i < t.Length)
        {
            if (char.IsAsciiDigit(t[i]))
            {
                number.Append(t[i++]);
                count++;
            }
            else if (t[i] == '_' && count > 0 && i + 1 < t.Length && char.IsAsciiDigit(t[i + 1]))
            {
                i++;
            }
            else
            {
                break;
            }
        }
        return count;
    }

    /// <summary>
    /// The text as Python's float() and int() read a number from it: whitespace around it removed, each decimal digit of
    /// any script as its ASCII digit, any other character past ASCII one that no number holds.
    /// </summary>
    internal static string NumberText(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && IsSpace(text[start]))
        {
            start++;
        }
        while (end > start && IsSpace(text[end - 1]))
        {
            end--;
        }
        var ascii = new StringBuilder(end - start);
        for (int i = start; i < end; i += char.IsSurrogatePair(text, i) ? 2 : 1)
        {
            int digit = CharUnicodeInfo.GetDecimalDigitValue(text, i);
            ascii.Append(text[i] < 0x80 ? text[i] : digit >= 0 ? (char)('0' + digit) : '?');
        }
        return ascii.ToString();
    }

    /// <summary>
    /// The whitespace Python's int() and float() strip: the ASCII space, tab, newline, \v, \f and \r, and past ASCII
    /// what <c>str.isspace</c> counts (separators of category Zs, Zl and Zp, and U+0085). The ASCII separators U+001C to
    /// U+001F, which str.isspace also counts, are kept ('\x1c12' is no number).
    /// </summary>
    private static bool IsSpace(char c) =>
        c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or '\x85'
        || (c > '\x7f' && CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
}
