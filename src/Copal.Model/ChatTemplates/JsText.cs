using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// The JavaScript string and number rules the reference renderer (@huggingface/jinja) inherits, where .NET's differ:
/// the whitespace set of <c>trim()</c> and <c>\s</c>, <c>String(number)</c>, <c>JSON.stringify</c> of a string.
/// </summary>
internal static class JsText
{
    /// <summary>ECMAScript WhiteSpace and LineTerminator (what <c>trim()</c> removes and <c>\s</c> matches).</summary>
    public static bool IsWhitespace(char c) => c switch
    {
        '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u00a0' or '\u1680' or '\u2028' or '\u2029' or '\u202f'
            or '\u205f' or '\u3000' or '\ufeff' => true,
        >= '\u2000' and <= '\u200a' => true,
        _ => false,
    };

    public static string Trim(string s) => TrimEnd(TrimStart(s));

    public static string TrimStart(string s)
    {
        int i = 0;
        while (i < s.Length && IsWhitespace(s[i]))
        {
            i++;
        }
        return s[i..];
    }

    public static string TrimEnd(string s)
    {
        int n = s.Length;
        while (n > 0 && IsWhitespace(s[n - 1]))
        {
            n--;
        }
        return s[..n];
    }

    /// <summary>JavaScript <c>String(x)</c> for a double (Number::toString, shortest round-trip digits).</summary>
    public static string Number(double x)
    {
        if (double.IsNaN(x))
        {
            return "NaN";
        }
        if (x == 0)
        {
            return "0";
        }
        if (double.IsInfinity(x))
        {
            return x > 0 ? "Infinity" : "-Infinity";
        }
        if (x < 0)
        {
            return "-" + Number(-x);
        }
        (string digits, int n) = ShortestDigits(x);
        if (digits == "0")
        {
            return "0";
        }
        int k = digits.Length;
        if (k <= n && n <= 21)
        {
            return digits + new string('0', n - k);
        }
        if (0 < n && n <= 21)
        {
            return digits[..n] + "." + digits[n..];
        }
        if (-6 < n && n <= 0)
        {
            return "0." + new string('0', -n) + digits;
        }
        string exponent = (n - 1 >= 0 ? "+" : "-") + Math.Abs(n - 1).ToString(CultureInfo.InvariantCulture);
        return k == 1 ? digits + "e" + exponent : digits[..1] + "." + digits[1..] + "e" + exponent;
    }

    /// <summary>
    /// The shortest round-trip decimal digits of a positive finite <paramref name="x"/> and its decimal exponent:
    /// x = 0.d1d2...dk × 10^n (JavaScript's and Python's number printing both start from these).
    /// </summary>
    public static (string Digits, int N) ShortestDigits(double x)
    {
        string shortest = x.ToString("R", CultureInfo.InvariantCulture);
        string mantissa = shortest;
        int exp = 0;
        int e = shortest.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            mantissa = shortest[..e];
            exp = int.Parse(shortest[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        int dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int intLength = dot < 0 ? mantissa.Length : dot;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
        }
        digits = digits[lead..].TrimEnd('0');
        return digits.Length == 0 ? ("0", 0) : (digits, intLength - lead + exp);
    }

    /// <summary>JavaScript <c>JSON.stringify</c> of a string (well-formed: lone surrogates escaped).</summary>
    public static void JsonString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); continue;
                case '\\': sb.Append("\\\\"); continue;
                case '\b': sb.Append("\\b"); continue;
                case '\f': sb.Append("\\f"); continue;
                case '\n': sb.Append("\\n"); continue;
                case '\r': sb.Append("\\r"); continue;
                case '\t': sb.Append("\\t"); continue;
            }
            bool lone = char.IsHighSurrogate(c) ? !(i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                : char.IsLowSurrogate(c) && !(i > 0 && char.IsHighSurrogate(s[i - 1]));
            if (c < ' ' || lone || (ensureAscii && c >= '\x7f'))
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        sb.Append('"');
    }
}
