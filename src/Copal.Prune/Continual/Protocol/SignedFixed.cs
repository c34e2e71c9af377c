using System.Globalization;

namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// A signed metric (forgetting_log, intransigence_log, BWT) as the continual reports print it: always with its sign,
/// a fixed number of decimals, invariant culture. The custom format "+0.0000;-0.0000" that this replaces printed a
/// negative value that rounds to zero as "-+0.0000" (.NET formats such a value with the first section and keeps the
/// minus); here it is "-0.0000", as the standard "F4" and Python's "+.4f" write it.
/// </summary>
internal static class SignedFixed
{
    /// <summary><paramref name="value"/> with a leading '+' or '-' and <paramref name="decimals"/> decimals; a negative zero is "+".</summary>
    public static string Format(double value, int decimals)
    {
        string magnitude = Math.Abs(value).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return (value < 0 ? "-" : "+") + magnitude;
    }

    /// <summary>As <see cref="Format(double, int)"/>; "–" for a missing or non-finite value, as the reports show it.</summary>
    public static string Format(double? value, int decimals) => value is double d && double.IsFinite(d) ? Format(d, decimals) : "–";
}
