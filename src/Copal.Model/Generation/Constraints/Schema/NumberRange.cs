namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The values a number or an integer may take (minimum, maximum and their exclusive forms), and which prefixes of a
/// JSON number can still end inside: a reply is never led into a number it may not finish. Bounds are kept as integers
/// scaled by 10^<see cref="Scale"/> (at most that many decimals); an integer's are whole and inclusive.
/// </summary>
/// <remarks>
/// A prefix stands for an interval of magnitudes, half-open: its value a and the width w the digits still to come may
/// add (w = 10^-s after s decimals; 1 before the dot: 0.xxx can follow), and, while the integer part may grow, the
/// intervals a·10^k … (a+1)·10^k for every k of digits more. Numbers are dense, and an integer's bounds are whole, so
/// an interval meets the range exactly when its ends do.
/// </remarks>
/// <param name="Min">The least bound, scaled, or null for none.</param>
/// <param name="MinExclusive">Whether <paramref name="Min"/> itself is out.</param>
/// <param name="Max">The greatest bound, scaled, or null for none.</param>
/// <param name="MaxExclusive">Whether <paramref name="Max"/> itself is out.</param>
internal readonly record struct NumberRange(Int128? Min, bool MinExclusive, Int128? Max, bool MaxExclusive)
{
    /// <summary>The decimals of a bound: bounds are held as integers times 10^Scale.</summary>
    public const int Scale = 6;

    /// <summary>The most decimals a number held to a range writes while its digits are followed (once every value it may become is in range, any number): past them, a value in range ends (at this many decimals every value a bound's grid lets through is in range).</summary>
    public const int MaxDecimals = 18;

    /// <summary>Any value.</summary>
    public static NumberRange All => default;

    public bool IsAll => Min is null && Max is null;

    private static readonly Int128[] s_powers = [.. Enumerable.Range(0, 38).Select(n => Power(n))];

    private static Int128 Power(int n)
    {
        Int128 p = 1;
        for (int i = 0; i < n; i++)
        {
            p *= 10;
        }
        return p;
    }

    /// <summary>Whether the value ±(whole + fraction / 10^decimals) is in the range.</summary>
    public bool Contains(bool negative, long whole, long fraction, int decimals)
    {
        (Int128 value, int scale) = Scaled(whole, fraction, decimals);
        return Within(negative ? -value : value, scale);
    }

    /// <summary>Whether <paramref name="value"/> (a JSON number's text) is in the range; false for text no decimal holds.</summary>
    public bool Contains(string value)
    {
        // The bounds are brought down to the value's scale, not the value up to theirs: a large value times 10^Scale
        // would pass decimal's range.
        if (!decimal.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out decimal d))
        {
            return false;
        }
        return (Min is not Int128 min || (MinExclusive ? d > Unscaled(min) : d >= Unscaled(min)))
            && (Max is not Int128 max || (MaxExclusive ? d < Unscaled(max) : d <= Unscaled(max)));
    }

    // A bound's value: below 10^17 in size with Scale decimals, which a decimal holds exactly.
    private static decimal Unscaled(Int128 bound) => (decimal)bound / 1_000_000m;

    /// <summary>
    /// Whether a number written so far can still end in the range: its sign alone (no digits), or ±(whole + fraction /
    /// 10^decimals) with more decimals to come (<paramref name="inFraction"/>) or, before any dot, a whole part that
    /// may still grow (<paramref name="grows"/>: not after a leading 0).
    /// </summary>
    public bool Viable(bool negative, bool digits, long whole, long fraction, int decimals, bool inFraction, bool grows)
    {
        if (!digits)
        {
            // "-": any value ≤ 0 (-0 is 0).
            return Min is not Int128 least || (MinExclusive ? least < 0 : least <= 0);
        }
        if (inFraction || !grows)
        {
            (Int128 from, int scale) = Scaled(whole, fraction, decimals);
            return Meets(negative, from, s_powers[scale - decimals], scale);
        }
        // Growing away from a missing bound, a long enough number always gets inside.
        if (negative ? Min is null : Max is null)
        {
            return true;
        }
        Int128 far = negative ? -Min!.Value : Max!.Value;
        for (Int128 low = whole * s_powers[Scale], width = s_powers[Scale]; low <= far; low *= 10, width *= 10)
        {
            if (Meets(negative, low, width, Scale))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether every value a number written so far may still become is in the range, so its digits need not be
    /// followed any more: after a dot, its interval inside; before, only growing away from a missing bound.
    /// </summary>
    public bool Free(bool negative, long whole, long fraction, int decimals, bool inFraction)
    {
        (Int128 from, int scale) = Scaled(whole, fraction, decimals);
        if (!inFraction)
        {
            return whole > 0 && (negative ? Min is null : Max is null) && Inside(negative, from, 0, scale);
        }
        return Inside(negative, from, s_powers[scale - decimals], scale);
    }

    // The value at scale max(decimals, Scale), as an integer, with that scale.
    private static (Int128 Value, int Scale) Scaled(long whole, long fraction, int decimals)
    {
        int scale = Math.Max(decimals, Scale);
        return ((whole * s_powers[scale]) + (fraction * s_powers[scale - decimals]), scale);
    }

    private Int128? Bound(Int128? bound, int scale) => bound * s_powers[scale - Scale];

    private bool Within(Int128 value, int scale) =>
        (Bound(Min, scale) is not Int128 min || (MinExclusive ? value > min : value >= min))
        && (Bound(Max, scale) is not Int128 max || (MaxExclusive ? value < max : value <= max));

    // Whether the magnitudes [from, from + width) (at the scale), with the sign, meet the range.
    private bool Meets(bool negative, Int128 from, Int128 width, int scale)
    {
        Int128? min = Bound(Min, scale), max = Bound(Max, scale);
        if (!negative)
        {
            return (max is not Int128 hi || (MaxExclusive ? from < hi : from <= hi)) && (min is not Int128 lo || from + width > lo);
        }
        // The values (-(from + width), -from].
        return (min is not Int128 low || (MinExclusive ? -from > low : -from >= low)) && (max is not Int128 high || -(from + width) < high);
    }

    // Whether the magnitudes [from, from + width) (at the scale), with the sign, lie inside the range.
    private bool Inside(bool negative, Int128 from, Int128 width, int scale)
    {
        Int128? min = Bound(Min, scale), max = Bound(Max, scale);
        Int128 low = negative ? -(from + width) : from, high = negative ? -from : from + width;
        // The end at the value written is in the interval, the other (the digits' limit) is not, unless both are one.
        bool lowTaken = !negative || width == 0, highTaken = negative || width == 0;
        bool lowIn = min is not Int128 lo || (lowTaken && MinExclusive ? low > lo : low >= lo);
        bool highIn = max is not Int128 hi || (highTaken && MaxExclusive ? high < hi : high <= hi);
        return lowIn && highIn;
    }

    /// <summary>Whether every integer of <paramref name="integers"/> (an integer range: whole, inclusive bounds) is in this range.</summary>
    public bool HoldsIntegers(NumberRange integers) =>
        (Min is not Int128 min || (integers.Min is Int128 least && (MinExclusive ? least > min : least >= min)))
        && (Max is not Int128 max || (integers.Max is Int128 most && (MaxExclusive ? most < max : most <= max)));

    /// <summary>The values of two integer ranges as one, or null where an integer lies between them that neither takes.</summary>
    public NumberRange? UnionOfIntegers(NumberRange other)
    {
        NumberRange lower = (Min ?? Int128.MinValue) <= (other.Min ?? Int128.MinValue) ? this : other;
        NumberRange upper = lower == this ? other : this;
        if (lower.Max is Int128 end && upper.Min is Int128 start && start > end + s_powers[Scale])
        {
            return null;
        }
        return new NumberRange(lower.Min is null || upper.Min is null ? null : lower.Min, false,
            Max is null || other.Max is null ? null : Int128.Max(Max.Value, other.Max.Value), false);
    }
}
