namespace Copal.Prune.Driver;

/// <summary>Options of one layer-sequential pruning run.</summary>
public sealed record PruneOptions(SparsityPattern Pattern)
{
    /// <summary>
    /// Prune in dependency groups (q,k,v → o → gate,up → down), re-collecting statistics in between, as SparseGPT's
    /// optional mode. Off by default: like the reference code, every linear's statistics come from one pass of the
    /// still-dense layer.
    /// </summary>
    public bool TrueSequential { get; init; }

    /// <summary>Also measure each layer's output error (pruned vs dense layer on the same inputs); costs one more layer pass.</summary>
    public bool MeasureLayerError { get; init; } = true;
}

/// <summary>Where a pruning run is: layer, stage and the linear being pruned.</summary>
public readonly record struct PruneProgress(int Layer, int Layers, string Stage, string? Linear = null);
