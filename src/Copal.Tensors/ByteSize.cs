namespace Copal.Tensors;

/// <summary>Byte counts as a person reads them, in binary units: "36.0 MiB".</summary>
internal static class ByteSize
{
    // Largest first: the unit's size in bytes, its name, and how many decimals it is shown with.
    private static readonly (long Size, string Suffix, int Decimals)[] s_units =
    [
        (1L << 60, " EiB", 2), (1L << 50, " PiB", 2), (1L << 40, " TiB", 2), (1L << 30, " GiB", 2), (1L << 20, " MiB", 1), (1L << 10, " KiB", 1),
    ];

    /// <summary>
    /// <paramref name="bytes"/> in the largest unit it reaches: "512 B", "1.5 KiB", "36.0 MiB", "1.25 GiB",
    /// "4.00 TiB", "8.00 EiB" (invariant culture). A size that rounds to 1024 of a unit is shown as 1 of the next:
    /// "1.0 MiB", not "1024.0 KiB".
    /// </summary>
    public static string Format(long bytes) => ScaledUnits.Format(bytes, s_units, 1024, " B");
}
