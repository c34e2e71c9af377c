namespace Copal.Tensors.Safetensors;

/// <summary>Finds the stored names closest to a name that was not found, for "did you mean" error messages.</summary>
internal static class NameSuggestions
{
    /// <summary>Up to <paramref name="max"/> names ordered by edit distance to <paramref name="wanted"/>, closest first.</summary>
    public static IReadOnlyList<string> Nearest(string wanted, IEnumerable<string> names, int max = 5)
    {
        return names
            .Select(n => (Name: n, Distance: Distance(wanted, n)))
            .OrderBy(p => p.Distance)
            .ThenBy(p => p.Name, StringComparer.Ordinal)
            .Take(max)
            .Select(p => p.Name)
            .ToList();
    }

    /// <summary>The message tail listing the nearest names, or saying the file holds no tensors.</summary>
    public static string Describe(string wanted, IEnumerable<string> names, int count)
    {
        if (count == 0)
        {
            return "it holds no tensors";
        }
        IReadOnlyList<string> near = Nearest(wanted, names);
        return $"it holds {count} tensors; nearest names: " + string.Join(", ", near.Select(n => $"'{n}'"));
    }

    /// <summary>Levenshtein distance with two rolling rows.</summary>
    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
