namespace Copal.Prune.Driver;

/// <summary>What one pruned linear layer ended up with.</summary>
public sealed record LinearReport(string Name, long Zeros, long Total, double? ReconstructionError)
{
    public double Sparsity => Total == 0 ? 0 : (double)Zeros / Total;
}

/// <summary>One decoder layer: its linears, its output error against the dense layer, and the time it took.</summary>
public sealed record LayerReport(int Layer, IReadOnlyList<LinearReport> Linears, double? OutputRelativeError, double Seconds);

/// <summary>Calibration data identity in a report; a report without calibration data (magnitude without --calib) has none.</summary>
public sealed record CalibrationReport(IReadOnlyList<string> Sources, int NSamples, int SeqLen, ulong Seed, string Hash);

/// <summary>
/// The content of prune-report.json. TotalSparsity, PrunedParameters and PrunableParameters cover the linears this run
/// pruned (the layers of --layers; lm_head and the embeddings when included): PrunedParameters are their zero weights,
/// zeros the input already had included. LinearSparsity and LinearParameters cover every decoder linear of the output,
/// the layers left out as copied (and what was included besides), so they are the model's whatever --layers chose.
/// PeakWorkingSetBytes includes the pages of the memory-mapped input the run touched (reclaimable page cache);
/// PeakAnonymousBytes is what the run itself held at the end of its largest layer: calibration activations, one
/// layer's pruned weights and statistics, and the runtime.
/// </summary>
public sealed record PruneReport(
    string Method,
    string Pattern,
    double TargetSparsity,
    bool TrueSequential,
    CalibrationReport? Calibration,
    IReadOnlyList<LayerReport> Layers,
    double TotalSparsity,
    long PrunedParameters,
    long PrunableParameters,
    double Seconds,
    long PeakWorkingSetBytes,
    long ActivationBytes,
    long PeakAnonymousBytes,
    string Device,
    string InputModel)
{
    public string Tool { get; init; } = "copal";

    /// <summary>The zero share of every decoder linear of the output model, pruned or copied (see above).</summary>
    public double LinearSparsity { get; init; }

    /// <summary>The weights <see cref="LinearSparsity"/> is over.</summary>
    public long LinearParameters { get; init; }
}
