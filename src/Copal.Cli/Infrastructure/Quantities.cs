using Copal.Tensors;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Counts and sizes as a person reads them, in a unit that keeps the figures of a tiny model (stories260K) and of a
/// large one: "260.0K" parameters, not "0 M"; "1.0 MB" streamed, not "0.00 GB". Binary sizes are <see cref="Copal.Tensors.ByteSize"/>.
/// </summary>
internal static class Quantities
{
    /// <summary>A parameter count: "512", "260.0K", "124.4M", "1.10B" ("1.0M", not "1000.0K", for 999,999).</summary>
    public static string Count(long n) => ScaledUnits.Format(n, [(1_000_000_000, "B", 2), (1_000_000, "M", 1), (1_000, "K", 1)], 1000, "");

    /// <summary>Bytes in decimal units, as bandwidths in GB/s are: "999 B", "45.3 kB", "1.0 MB", "2.20 GB".</summary>
    public static string DecimalBytes(long bytes) => ScaledUnits.Format(bytes, [(1_000_000_000, " GB", 2), (1_000_000, " MB", 1), (1_000, " kB", 1)], 1000, " B");
}
