namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The integers an integer value may be (minimum, maximum and their exclusive forms, as whole bounds): which prefixes
/// of a JSON integer can still end inside, so that a reply is never led into a number it may not finish.
/// </summary>
/// <param name="Min">The least allowed, or null for no bound.</param>
/// <param name="Max">The greatest allowed, or null for no bound.</param>
internal readonly record struct IntegerRange(long? Min, long? Max)
{
    /// <summary>Every integer.</summary>
    public static IntegerRange All => default;

    public bool IsAll => Min is null && Max is null;

    public bool Contains(Int128 value) => (Min is not long min || value >= min) && (Max is not long max || value <= max);

    /// <summary>
    /// Whether an integer written so far as a sign and <paramref name="magnitude"/>'s digits (none yet when
    /// <paramref name="digits"/> is false; a leading 0 ends the digits) can still end inside the range: the values
    /// it may grow to are, for each count k of digits to come, the magnitudes magnitude·10^k … (magnitude+1)·10^k − 1.
    /// </summary>
    public bool Viable(bool negative, long magnitude, bool digits)
    {
        if (!digits)
        {
            // "-": any integer ≤ 0 (-0 is 0).
            return Min is not long least || least <= 0;
        }
        if (magnitude == 0)
        {
            return Contains(0);
        }
        // Growing away from a missing bound, a long enough integer always gets inside.
        if (negative ? Min is null : Max is null)
        {
            return true;
        }
        // The bound the magnitude grows towards: past it, more digits only move further out.
        Int128 far = negative ? -(Int128)Min!.Value : Max!.Value;
        Int128 low = magnitude, high = magnitude;
        while (low <= far)
        {
            Int128 from = negative ? -high : low, to = negative ? -low : high;
            if ((Max is not long max || from <= max) && (Min is not long min || to >= min))
            {
                return true;
            }
            low *= 10;
            high = (high * 10) + 9;
        }
        return false;
    }

    /// <summary>
    /// Whether every integer an integer written so far may still become is inside the range (from then on its digits
    /// need not be followed): past the only bound it moves away from.
    /// </summary>
    public bool Free(bool negative, long magnitude) => negative
        ? Min is null && (Max is not long max || -(Int128)magnitude <= max)
        : Max is null && magnitude > 0 && (Min is not long min || magnitude >= min);

    /// <summary>The integers of both ranges as one, or null where a gap lies between them.</summary>
    public IntegerRange? Union(IntegerRange other)
    {
        IntegerRange lower = (Min ?? long.MinValue) <= (other.Min ?? long.MinValue) ? this : other;
        IntegerRange upper = lower == this ? other : this;
        if (lower.Max is long end && upper.Min is long start && (Int128)start > (Int128)end + 1)
        {
            return null;
        }
        return new IntegerRange(lower.Min is null || upper.Min is null ? null : lower.Min,
            Max is null || other.Max is null ? null : Math.Max(Max.Value, other.Max.Value));
    }
}
