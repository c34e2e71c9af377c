namespace Copal.Prune;

/// <summary>
/// Magnitude pruning: score |W|. Unstructured uses one comparison group, the whole matrix, and prunes exactly
/// ⌊rows·cols·s⌋ entries (the reference prunes every |W| ≤ the value at that sorted index, one more when
/// there are no ties; docs/pruning.md). N:M prunes the N smallest of each group of M in each row.
/// Statistics are not needed; when given with a Hessian, the reconstruction error is reported.
/// </summary>
public sealed class MagnitudePruner : IPruningMethod
{
    /// <inheritdoc/>
    public string Name => "magnitude";

    /// <inheritdoc/>
    public bool NeedsHessian => false;

    /// <inheritdoc/>
    public bool NeedsStatistics => false;

    /// <inheritdoc/>
    public LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern,
        CancellationToken cancellationToken = default)
    {
        PruneArguments.Check(Name, weight.Length, rows, cols, stats, pattern, needsStats: false, needsHessian: false);
        PruneArguments.CheckFinite(Name, weight, cols);
        float[]? original = stats is { HasHessian: true } ? weight.ToArray() : null;
        switch (pattern)
        {
            case SparsityPattern.Unstructured u:
                long count = u.CountFor(weight.Length);
                if (count > 0)
                {
                    var scores = new double[weight.Length];
                    for (int i = 0; i < scores.Length; i++)
                    {
                        scores[i] = Math.Abs((double)weight[i]);
                    }
                    var mask = new bool[weight.Length];
                    MaskSelection.PruneLowestGlobal(scores, count, mask);
                    for (int i = 0; i < mask.Length; i++)
                    {
                        if (mask[i])
                        {
                            weight[i] = 0f;
                        }
                    }
                }
                break;
            case SparsityPattern.NM:
                float[] w = weight.ToArray();
                MaskApplication.PerRow(w, rows, cols, pattern, (r, scores) =>
                {
                    ReadOnlySpan<float> row = w.AsSpan(r * cols, cols);
                    for (int j = 0; j < cols; j++)
                    {
                        scores[j] = Math.Abs((double)row[j]);
                    }
                }, cancellationToken);
                w.CopyTo(weight);
                break;
        }
        return MaskApplication.Result(original, weight, rows, cols, stats, cancellationToken);
    }
}
