using System.Numerics;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// A double's exact binary value in decimal, as Python's <c>round()</c> and printf-style formatting read it (CPython's
/// dtoa): the digits come from the value itself, not from a decimal approximation of it.
/// </summary>
internal static class ExactDecimal
{
    /// <summary>|<paramref name="x"/>| · 10^<paramref name="shift"/> rounded to an integer, ties to even, exactly (x finite).</summary>
    public static BigInteger ScaledHalfEven(double x, int shift)
    {
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0)
        {
            exponent = 1;
        }
        else
        {
            mantissa |= 1L << 52;
        }
        exponent -= 1075;
        // |x| · 10^shift = numerator / denominator exactly.
        BigInteger numerator = new BigInteger(mantissa) * (exponent > 0 ? BigInteger.Pow(2, exponent) : 1) * (shift > 0 ? BigInteger.Pow(10, shift) : 1);
        BigInteger denominator = (exponent < 0 ? BigInteger.Pow(2, -exponent) : 1) * (shift < 0 ? BigInteger.Pow(10, -shift) : 1);
        BigInteger q = BigInteger.DivRem(numerator, denominator, out BigInteger r);
        if (2 * r > denominator || (2 * r == denominator && !q.IsEven))
        {
            q++;
        }
        return q;
    }
}
