using System.Globalization;
using System.Numerics;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A JSON number's text read as a decimal only where the decimal is its value exactly. A decimal holds at most 28 or 29
/// significant digits and 28 decimals, and parsing rounds past them (0.1000000000000000000000000000001 reads as 0.1,
/// 1e-400 as 0): a bound read so would let a reply through that the schema refuses.
/// </summary>
internal static class ExactDecimal
{
    /// <summary>Whether <paramref name="number"/> (a JSON number's text) is exactly a decimal, and which.</summary>
    public static bool TryParse(string number, out decimal value) =>
        decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && Equal(number, value);

    // The text is ±N·10^e, the decimal ±M·10^-s: equal where N·10^(e+s) = M.
    private static bool Equal(string text, decimal d)
    {
        int at = text.IndexOfAny(['e', 'E']);
        string mantissa = at < 0 ? text : text[..at];
        long e = 0;
        if (at >= 0 && !long.TryParse(text.AsSpan(at + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out e))
        {
            return false;
        }
        int dot = mantissa.IndexOf('.');
        if (dot >= 0)
        {
            e -= mantissa.Length - dot - 1;
            mantissa = mantissa.Remove(dot, 1);
        }
        BigInteger n = BigInteger.Parse(mantissa, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        int[] bits = decimal.GetBits(d);
        BigInteger m = new BigInteger((uint)bits[0]) | (new BigInteger((uint)bits[1]) << 32) | (new BigInteger((uint)bits[2]) << 64);
        m = d < 0 ? -m : m;
        if (n.IsZero || m.IsZero)
        {
            return n.IsZero && m.IsZero;
        }
        long k = e + d.Scale;
        // |M| < 10^29 and |N| < 10^length: past these powers no two are equal (and no huge power is computed).
        if (k > 29 || -k > text.Length)
        {
            return false;
        }
        return k >= 0 ? n * BigInteger.Pow(10, (int)k) == m : n == m * BigInteger.Pow(10, (int)-k);
    }
}
