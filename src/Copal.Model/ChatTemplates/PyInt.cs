using System.Numerics;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's <c>int(text, base)</c>, which Jinja2's <c>int</c> filter calls first for a string (then
/// <c>int(float(text))</c>, then its default): the whole text, less Python's whitespace around it, is an optional sign
/// and digits of the base (letters for 11 and up, in either case), with one underscore allowed between digits and
/// after a prefix. Base 16, 8 and 2 take an optional <c>0x</c>, <c>0o</c>, <c>0b</c>; base 0 reads the base from the
/// prefix, and without one is base 10 with no leading zero (<c>010</c> is refused). The reference's JavaScript
/// parseInt read a leading number (<c>'12abc'</c> as 12) and took no base.
/// </summary>
internal static class PyInt
{
    /// <summary>The integer, or null where Python's int() raises ValueError (a base other than 0 or 2 to 36 included).</summary>
    public static BigInteger? Parse(string text, long numberBase)
    {
        if (numberBase is not (0 or (>= 2 and <= 36)))
        {
            return null;
        }
        string t = PyFloat.NumberText(text);
        int i = t.Length > 0 && t[0] is '+' or '-' ? 1 : 0;
        bool prefixed = false;
        int radix = (int)numberBase;
        if (i + 1 < t.Length && t[i] == '0' && PrefixBase(t[i + 1]) is int prefixBase && (radix == 0 || radix == prefixBase))
        {
            radix = prefixBase;
            prefixed = true;
            i += 2;
            if (i < t.Length && t[i] == '_')
            {
                i++;
            }
        }
        bool noLeadingZero = radix == 0;
        radix = radix == 0 ? 10 : radix;
        BigInteger value = BigInteger.Zero;
        int digits = 0;
        bool leadingZero = false;
        for (; i < t.Length; i++)
        {
            if (t[i] == '_' && digits > 0 && i + 1 < t.Length && t[i + 1] != '_')
            {
                continue;
            }
            int d = DigitValue(t[i]);
            if (d < 0 || d >= radix)
            {
                return null;
            }
            leadingZero |= digits == 0 && d == 0;
            value = (value * radix) + d;
            digits++;
        }
        // Python: "leading zeros in decimal integer literals are not permitted" in base 0, unless the number is zero.
        if (digits == 0 || (noLeadingZero && !prefixed && leadingZero && !value.IsZero))
        {
            return null;
        }
        return t[0] == '-' ? -value : value;
    }

    private static int? PrefixBase(char c) => char.ToLowerInvariant(c) switch
    {
        'x' => 16,
        'o' => 8,
        'b' => 2,
        _ => null,
    };

    private static int DigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'z' => c - 'a' + 10,
        >= 'A' and <= 'Z' => c - 'A' + 10,
        _ => -1,
    };
}
