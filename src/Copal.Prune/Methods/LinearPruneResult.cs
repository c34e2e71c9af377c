namespace Copal.Prune;

/// <summary>What pruning one linear layer did.</summary>
/// <param name="Zeros">Exact zeros in the weight after pruning (pruned entries plus any that were already zero).</param>
/// <param name="Total">rows·cols.</param>
/// <param name="ReconstructionError">
/// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) with the undamped Hessian of the statistics (the relative squared error of the
/// layer's output on the calibration inputs), or null when no Hessian was available.
/// </param>
public sealed record LinearPruneResult(long Zeros, long Total, double? ReconstructionError)
{
    /// <summary>Zeros / Total.</summary>
    public double Sparsity => Total == 0 ? 0 : (double)Zeros / Total;
}
