using System.Globalization;

namespace Copal.Tensors;

/// <summary>A count with its noun as a person reads it: "1 window", "2 windows", "115,127 tokens".</summary>
internal static class Plural
{
    /// <summary>
    /// <paramref name="count"/> and <paramref name="singular"/> for exactly one, else <paramref name="plural"/>
    /// (default: the singular with an s). <paramref name="grouped"/> writes thousands separators (invariant culture).
    /// </summary>
    public static string Of(long count, string singular, string? plural = null, bool grouped = false)
    {
        ArgumentNullException.ThrowIfNull(singular);
        string number = count.ToString(grouped ? "N0" : "D", CultureInfo.InvariantCulture);
        return $"{number} {(count == 1 ? singular : plural ?? singular + "s")}";
    }
}
