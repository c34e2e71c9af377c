namespace Copal.Prune;

/// <summary>
/// One pruning method applied to one linear layer. The layer-sequential driver collects the layer's
/// <see cref="InputStatistics"/> and calls <see cref="Prune"/> once per weight matrix.
/// </summary>
public interface IPruningMethod
{
    /// <summary>The method's name on the command line: "magnitude", "wanda", "sparsegpt".</summary>
    string Name { get; }

    /// <summary>Whether <see cref="Prune"/> needs statistics with a Hessian (the driver then collects one).</summary>
    bool NeedsHessian { get; }

    /// <summary>Whether <see cref="Prune"/> reads the input statistics at all (magnitude does not).</summary>
    bool NeedsStatistics => true;

    /// <summary>
    /// Refuses a pattern this method cannot apply whatever the matrix (SparseGPT: an M that does not divide its block),
    /// so a driver can refuse it before any work. Nothing by default.
    /// </summary>
    /// <exception cref="PruningOptionException">The method cannot apply <paramref name="pattern"/>.</exception>
    void CheckPattern(SparsityPattern pattern)
    {
    }

    /// <summary>
    /// The caller is done with <paramref name="statistics"/>: no linear it prunes later reads them. A method that keeps
    /// something made from them for the other linears of the same input (SparseGPT: the factor of their Hessian) lets
    /// it go now rather than when the statistics are collected. Nothing by default.
    /// </summary>
    void ReleaseStatistics(InputStatistics statistics)
    {
    }

    /// <summary>
    /// Prunes <paramref name="weight"/> [rows = out, cols = in] row-major in place: pruned entries become exact
    /// zeros and, for methods that reconstruct (SparseGPT), the kept ones are updated.
    /// </summary>
    /// <param name="weight">[rows, cols] row-major, modified in place.</param>
    /// <param name="rows">Output dimension.</param>
    /// <param name="cols">Input dimension.</param>
    /// <param name="stats">Statistics of the layer's input; null only for methods that need none (magnitude).</param>
    /// <param name="pattern">How much to prune and how (unstructured ratio or N:M).</param>
    /// <param name="cancellationToken">Checked between rows or blocks.</param>
    /// <returns>Zero count and, when <paramref name="stats"/> has a Hessian, the relative reconstruction error.</returns>
    /// <exception cref="PruningShapeException">Shapes disagree, or cols is not a multiple of M for N:M.</exception>
    LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern,
        CancellationToken cancellationToken = default);
}
