namespace Copal.Prune.Driver;

/// <summary>Options of one layer-sequential pruning run.</summary>
/// <param name="Pattern">The sparsity to reach in every pruned linear: a ratio per row, or N:M.</param>
public sealed record PruneOptions(SparsityPattern Pattern)
{
    /// <summary>
    /// Prune in dependency groups (q,k,v → o → gate,up → down), re-collecting statistics in between, as SparseGPT's
    /// optional mode. Off by default: like the reference code, every linear's statistics come from one pass of the
    /// still-dense layer.
    /// </summary>
    public bool TrueSequential { get; init; }

    /// <summary>
    /// Feed every layer the outputs of the <b>dense</b> layers before it, instead of those as pruned in this run (the
    /// reference order), whatever the pruner asks for (<see cref="ILinearPruner.Upstream"/>). Off by default.
    /// </summary>
    public bool DenseUpstream { get; init; }

    /// <summary>
    /// The decoder layers to prune; null prunes all. Other layers are copied unchanged (their dense outputs still feed
    /// the next pruned layer); nothing after the last selected layer is run, unless <see cref="IncludeEmbeddings"/> needs
    /// the last layer's outputs for lm_head's statistics.
    /// </summary>
    public IReadOnlySet<int>? Layers { get; init; }

    /// <summary>Parses "0-3,7" (inclusive ranges and single layers) for a model of <paramref name="layerCount"/> layers.</summary>
    public static IReadOnlySet<int> ParseLayers(string text, int layerCount)
    {
        ArgumentNullException.ThrowIfNull(text);
        var set = new SortedSet<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = part.Split('-');
            if (ends.Length is < 1 or > 2 || !int.TryParse(ends[0], out int from) || !int.TryParse(ends[^1], out int to) || from > to || from < 0 || to >= layerCount)
            {
                throw new PruningOptionException("layers", text, $"layer indices or ranges within 0..{layerCount - 1}, e.g. 0-3,7");
            }
            for (int l = from; l <= to; l++)
            {
                set.Add(l);
            }
        }
        if (set.Count == 0)
        {
            throw new PruningOptionException("layers", text, $"at least one layer within 0..{layerCount - 1}");
        }
        return set;
    }

    /// <summary>Writes <paramref name="layers"/> as <see cref="ParseLayers"/> reads them: "0-3,7".</summary>
    public static string FormatLayers(IEnumerable<int> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var parts = new List<string>();
        int[] sorted = [.. layers.Distinct().Order()];
        for (int i = 0; i < sorted.Length;)
        {
            int j = i;
            while (j + 1 < sorted.Length && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }
            parts.Add(j == i ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(",", parts);
    }

    /// <summary>
    /// Refuses a <see cref="Layers"/> set that is empty or names a layer outside 0..layerCount − 1, as
    /// <see cref="ParseLayers"/> refuses the same text: such a run would copy the model and report it pruned.
    /// </summary>
    public void CheckLayers(int layerCount)
    {
        if (Layers is null)
        {
            return;
        }
        string given = Layers.Count == 0 ? "(none)" : string.Join(",", Layers.Order());
        if (Layers.Count == 0 || Layers.Any(l => l < 0 || l >= layerCount))
        {
            throw new PruningOptionException("layers", given, $"at least one layer, each within 0..{layerCount - 1}");
        }
    }

    /// <summary>
    /// Also prune lm_head (with the method, from the statistics of its input: the final RMSNorm of the last layer's
    /// output) and an untied embed_tokens (by magnitude: its input is a one-hot row choice, with no statistics).
    /// Off by default, as in the literature.
    /// </summary>
    public bool IncludeEmbeddings { get; init; }

    /// <summary>Also measure each layer's output error (pruned vs dense layer on the same inputs); costs one more layer pass.</summary>
    public bool MeasureLayerError { get; init; } = true;
}

/// <summary>
/// Where a pruning run is: layer, stage and the linear being pruned. The last report has Layer = Layers: every layer is
/// done and the output is being written.
/// </summary>
/// <param name="Layer">The decoder layer being worked on, from 0; −1 before the first (loading the model), <paramref name="Layers"/> in the last report.</param>
/// <param name="Layers">The model's decoder layers.</param>
/// <param name="Stage">What is happening, in words (e.g. "pruning", "rerunning the pruned layer").</param>
/// <param name="Linear">The tensor being pruned during the "pruning" stage; null otherwise.</param>
public readonly record struct PruneProgress(int Layer, int Layers, string Stage, string? Linear = null)
{
    /// <summary>One line for a progress display: "layer 3/22: pruning model.layers.2.mlp.up_proj.weight", or the stage alone before the layers and at the end.</summary>
    public string Describe() => Layer < 0 || Layer >= Layers ? Stage : $"layer {Layer + 1}/{Layers}: {Stage}{(Linear is null ? "" : $" {Linear}")}";
}
