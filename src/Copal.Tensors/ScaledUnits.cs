using System.Globalization;

namespace Copal.Tensors;

/// <summary>A count shown in the largest unit it reaches ("36.0 MiB", "124.4M"), for <see cref="ByteSize"/> and the CLI's decimal quantities.</summary>
internal static class ScaledUnits
{
    /// <summary>
    /// <paramref name="n"/> in the largest of <paramref name="units"/> (largest first, each <paramref name="step"/>
    /// times the next) it reaches, with that unit's decimals and suffix; below the smallest unit, as it is with
    /// <paramref name="plain"/> after it. A figure that rounds to <paramref name="step"/> of a unit is shown as 1 of the
    /// next ("1.0 MiB", not "1024.0 KiB"). Invariant culture.
    /// </summary>
    public static string Format(long n, ReadOnlySpan<(long Size, string Suffix, int Decimals)> units, int step, string plain)
    {
        for (int i = 0; i < units.Length; i++)
        {
            var (size, suffix, decimals) = units[i];
            if (n < size)
            {
                continue;
            }
            double value = n / (double)size;
            if (i > 0 && Math.Round(value, decimals, MidpointRounding.AwayFromZero) >= step)
            {
                (size, suffix, decimals) = units[i - 1];
                value = n / (double)size;
            }
            return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + suffix;
        }
        return n.ToString(CultureInfo.InvariantCulture) + plain;
    }
}
