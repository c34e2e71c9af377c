namespace Copal.Prune.Driver;

/// <summary>What one pruned linear layer ended up with.</summary>
/// <param name="Name">The weight's tensor name, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</param>
/// <param name="Zeros">Zero entries of the pruned weight, those the input already had included.</param>
/// <param name="Total">Entries of the weight: rows × cols.</param>
/// <param name="ReconstructionError">
/// Relative squared output error on the calibration inputs, tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) with the undamped input Hessian
/// H; null when the run collected no Hessian (docs/json-outputs.md).
/// </param>
public sealed record LinearReport(string Name, long Zeros, long Total, double? ReconstructionError)
{
    /// <summary><see cref="Zeros"/> / <see cref="Total"/>; 0 for an empty weight.</summary>
    public double Sparsity => Total == 0 ? 0 : (double)Zeros / Total;
}

/// <summary>One decoder layer: its linears, its output error against the dense layer, and the time it took.</summary>
/// <param name="Layer">The layer's index from 0; the number of layers for the entry of the embeddings and lm_head.</param>
/// <param name="Linears">One entry per weight pruned in the layer.</param>
/// <param name="OutputRelativeError">
/// ‖Y_pruned − Y_dense‖² / ‖Y_dense‖² on the same calibration inputs, over every sample; null when not measured
/// (<see cref="PruneOptions.MeasureLayerError"/> off, no calibration data, dense upstream, the embeddings' entry).
/// </param>
/// <param name="Seconds">Wall time spent on the layer.</param>
public sealed record LayerReport(int Layer, IReadOnlyList<LinearReport> Linears, double? OutputRelativeError, double Seconds);

/// <summary>Calibration data identity in a report; a report without calibration data (magnitude without --calib) has none.</summary>
/// <param name="Sources">The calibration texts, as given (<see cref="Calibration.CalibrationSet.Sources"/>).</param>
/// <param name="NSamples">Windows drawn.</param>
/// <param name="SeqLen">Tokens per window.</param>
/// <param name="Seed">The seed of the window offsets.</param>
/// <param name="Hash">SHA-256 (hex) of the sampled token ids.</param>
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
/// <param name="Method">The pruner's name: magnitude, wanda, sparsegpt or copal.</param>
/// <param name="Pattern">The pattern as text: a ratio ("0.5") or N:M ("2:4").</param>
/// <param name="TargetSparsity">The fraction asked for: the ratio, or N/M.</param>
/// <param name="TrueSequential">Whether <see cref="PruneOptions.TrueSequential"/> was on.</param>
/// <param name="Calibration">The calibration data's identity; null when there was none.</param>
/// <param name="Layers">One entry per pruned layer, in order (plus one for the embeddings when included).</param>
/// <param name="TotalSparsity"><paramref name="PrunedParameters"/> / <paramref name="PrunableParameters"/>.</param>
/// <param name="PrunedParameters">Zeros in the weights this run pruned, after the run.</param>
/// <param name="PrunableParameters">Entries of the weights this run pruned.</param>
/// <param name="Seconds">The layer-wise pruning's wall time, from capturing layer 0's inputs; loading and sampling not included.</param>
/// <param name="PeakWorkingSetBytes">The process's peak resident memory, mapped input pages it read included.</param>
/// <param name="ActivationBytes">The calibration activations held between layers: samples × seqLen × hidden × 4 (0 without data).</param>
/// <param name="PeakAnonymousBytes">The largest anonymous resident memory seen at the end of a layer.</param>
/// <param name="Device">Where it ran: the backend's kind and device name.</param>
/// <param name="InputModel">The dense model folder, as given.</param>
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
    /// <summary>The tool that wrote the report: "copal".</summary>
    public string Tool { get; init; } = "copal";

    /// <summary>The zero share of every decoder linear of the output model, pruned or copied (see above).</summary>
    public double LinearSparsity { get; init; }

    /// <summary>The weights <see cref="LinearSparsity"/> is over.</summary>
    public long LinearParameters { get; init; }
}
