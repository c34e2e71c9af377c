namespace Copal.Prune.Tests;

/// <summary>
/// The pruning comparisons' bounds (docs/pruning.md explains them); every golden test uses these.
/// </summary>
internal static class PruningTolerances
{
    /// <summary>SparseGPT in double against the float64 reference: |a − e| ≤ 1e-9·(|e| + 1e-3·max|W|).</summary>
    public const double SparseGptRelative = 1e-9;

    /// <summary>SparseGPT's float weights against the reference rounded to float: at most this many float steps apart.</summary>
    public const int FloatUlps = 1;

    /// <summary>
    /// The driver on a real model against the float64 reference pipeline, relative, for sums over a linear (its squared
    /// weights, its reconstruction error): Copal runs the layers in float and sums each window's Gram matrix in float.
    /// Measured on stories260K: ≤ 2e-7.
    /// </summary>
    public const double PipelineRelative = 1e-5;
}
