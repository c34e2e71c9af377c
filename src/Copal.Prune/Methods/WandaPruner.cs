namespace Copal.Prune;

/// <summary>
/// Wanda (Sun et al., 2023): score S_ij = |W_ij|·√scaler[j], scaler = the input's per-column mean square.
/// Unstructured prunes exactly ⌊cols·s⌋ lowest scores in each output row (stable ties, as the reference's
/// stable sort); N:M the N lowest of each group of M in each row. Kept weights are not changed.
/// </summary>
public sealed class WandaPruner : IPruningMethod
{
    /// <inheritdoc/>
    public string Name => "wanda";

    /// <inheritdoc/>
    public bool NeedsHessian => false;

    /// <inheritdoc/>
    public LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern,
        CancellationToken cancellationToken = default)
    {
        PruneArguments.Check(Name, weight.Length, rows, cols, stats, pattern, needsStats: true, needsHessian: false);
        PruneArguments.CheckFinite(Name, weight, cols);
        float[]? original = stats!.HasHessian ? weight.ToArray() : null;
        var norms = new double[cols];
        ReadOnlySpan<double> scaler = stats.ColumnMeanSquares;
        for (int j = 0; j < cols; j++)
        {
            // NaN scores would match nothing in the selection, and the row would keep weights it was to prune.
            if (!double.IsFinite(scaler[j]))
            {
                throw new ArgumentException(FormattableString.Invariant(
                    $"{Name}: the input statistics' mean square of column {j} is {scaler[j]}, expected a finite value (the calibration activations are not finite)"), nameof(stats));
            }
            norms[j] = Math.Sqrt(scaler[j]);
        }
        float[] w = weight.ToArray();
        MaskApplication.PerRow(w, rows, cols, pattern, (r, scores) =>
        {
            ReadOnlySpan<float> row = w.AsSpan(r * cols, cols);
            for (int j = 0; j < cols; j++)
            {
                scores[j] = Math.Abs((double)row[j]) * norms[j];
            }
        }, cancellationToken);
        w.CopyTo(weight);
        return MaskApplication.Result(original, weight, rows, cols, stats, cancellationToken);
    }
}
