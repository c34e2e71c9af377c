namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// The pruned models of a run by identity key (method, input model, calibration windows), so that a model two
/// variants would make identically is pruned and evaluated once. Models of one seed are deleted when the seed
/// ends; data-free ones (magnitude) are kept for the next seeds.
/// </summary>
internal sealed class ModelCache(string root)
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), double> _drift = [];
    private readonly Dictionary<string, double[]> _rows = new(StringComparer.Ordinal);
    private int _next;

    public sealed record Entry(string Directory, double[] Row, bool SeedScoped);

    public bool TryGet(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Entry? entry) => _entries.TryGetValue(key, out entry);

    public string Directory(string key) => _entries[key].Directory;

    /// <summary>The perplexities of a model with these weights (content hash), if one was evaluated.</summary>
    public bool TryGetRow(string contentHash, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out double[]? row) => _rows.TryGetValue(contentHash, out row);

    public void AddRow(string contentHash, double[] row) => _rows[contentHash] = row;

    public string NewDirectory() => Path.Combine(root, $"model-{_next++}");

    public Entry Add(string key, string directory, double[] row, bool seedScoped)
    {
        var e = new Entry(directory, row, seedScoped);
        _entries.Add(key, e);
        return e;
    }

    public double MaskChange(string before, string after, CancellationToken cancellationToken)
    {
        if (before == after)
        {
            return 0;
        }
        if (!_drift.TryGetValue((before, after), out double f))
        {
            f = MaskDrift.Fraction(_entries[before].Directory, _entries[after].Directory, cancellationToken);
            _drift[(before, after)] = f;
        }
        return f;
    }

    public void EndSeed()
    {
        foreach (string key in _entries.Where(e => e.Value.SeedScoped).Select(e => e.Key).ToList())
        {
            System.IO.Directory.Delete(_entries[key].Directory, recursive: true);
            _entries.Remove(key);
            foreach ((string, string) pair in _drift.Keys.Where(k => k.Item1 == key || k.Item2 == key).ToList())
            {
                _drift.Remove(pair);
            }
        }
    }
}
