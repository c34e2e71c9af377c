using System.Diagnostics;
using System.Globalization;

namespace Copal.Prune.Driver;

/// <summary>
/// The process's anonymous resident memory: what it allocated itself, without the pages of memory-mapped
/// checkpoints (those are page cache the kernel can drop, and they would make every run look as big as the model).
/// Read from /proc/self/status on Linux; elsewhere the working set, which includes mapped pages.
/// </summary>
internal static class MemoryProbe
{
    /// <summary>Bytes of anonymous resident memory now (RssAnon on Linux; the working set elsewhere).</summary>
    public static long AnonymousBytes()
    {
        const string path = "/proc/self/status";
        if (File.Exists(path))
        {
            foreach (string line in File.ReadLines(path))
            {
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                {
                    string kb = line["RssAnon:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        return Process.GetCurrentProcess().WorkingSet64;
    }
}
