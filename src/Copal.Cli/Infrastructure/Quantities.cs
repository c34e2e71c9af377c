using System.Globalization;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Counts and sizes as a person reads them, in a unit that keeps the figures of a tiny model (stories260K) and of a
/// large one: "260.0K" parameters, not "0 M"; "1.0 MB" streamed, not "0.00 GB". Binary sizes are <see cref="Copal.Tensors.ByteSize"/>.
/// </summary>
internal static class Quantities
{
    /// <summary>A parameter count: "512", "260.0K", "124.4M", "1.10B".</summary>
    public static string Count(long n) => n switch
    {
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e9:F2}B"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e6:F1}M"),
        >= 1_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e3:F1}K"),
        _ => n.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Bytes in decimal units, as bandwidths in GB/s are: "999 B", "45.3 kB", "1.0 MB", "2.20 GB".</summary>
    public static string DecimalBytes(long bytes) => bytes switch
    {
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F2} GB"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB"),
        >= 1_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:F1} kB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
