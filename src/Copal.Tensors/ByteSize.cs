using System.Globalization;

namespace Copal.Tensors;

/// <summary>Byte counts as a person reads them, in binary units: "36.0 MiB".</summary>
public static class ByteSize
{
    /// <summary>
    /// <paramref name="bytes"/> in the largest unit it reaches: "512 B", "1.5 KiB", "36.0 MiB", "1.25 GiB",
    /// "4.00 TiB", "8.00 EiB" (invariant culture).
    /// </summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 60 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 60):F2} EiB"),
        >= 1L << 50 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 50):F2} PiB"),
        >= 1L << 40 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 40):F2} TiB"),
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
