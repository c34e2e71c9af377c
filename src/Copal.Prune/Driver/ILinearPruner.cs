using Copal.Model.Weights;

namespace Copal.Prune.Driver;

/// <summary>Which linear layer is being pruned: its place in the model, checkpoint name and shape [Rows = out, Cols = in].</summary>
/// <param name="Layer">The decoder layer, from 0 (the number of layers for lm_head and the embedding).</param>
/// <param name="Id">Which of the layer's seven linears.</param>
/// <param name="Name">The weight's tensor name in the checkpoint.</param>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
public readonly record struct LinearTarget(int Layer, LinearId Id, string Name, int Rows, int Cols);

/// <summary>
/// What the layer-sequential driver calls for each linear layer. Baselines adapt an <see cref="IPruningMethod"/>
/// (<see cref="MethodPruner"/>); COPAL implements it directly because it keeps a state per linear across datasets.
/// </summary>
public interface ILinearPruner
{
    /// <summary>The method's name, as <see cref="PrunerFactory.Create"/> takes it and the report records it.</summary>
    string Name { get; }

    /// <summary>Whether <see cref="Prune"/> needs the input Hessian (XᵀX) as well as the column norms.</summary>
    bool NeedsHessian { get; }

    /// <summary>
    /// Whether <see cref="Prune"/> reads the input statistics at all. Without them (magnitude) and without the
    /// per-layer output error, the driver runs no forward pass: it prunes each linear from its weights alone.
    /// </summary>
    bool NeedsStatistics => true;

    /// <summary>Which upstream the statistics passed to <see cref="Prune"/> must come through.</summary>
    StatisticsUpstream Upstream => StatisticsUpstream.Pruned;

    /// <summary>
    /// Whether <see cref="Prune"/> reads <see cref="InputStatistics.UpstreamShift"/>: the driver then also runs every
    /// sample through the dense upstream (unless the upstream is dense already, where the shift is zero).
    /// </summary>
    bool NeedsUpstreamShift => false;

    /// <summary>Refuses, before any work, a pattern this pruner cannot apply whatever the matrix (see <see cref="IPruningMethod.CheckPattern"/>).</summary>
    /// <exception cref="PruningOptionException">The pruner cannot apply <paramref name="pattern"/>.</exception>
    void CheckPattern(SparsityPattern pattern)
    {
    }

    /// <summary>
    /// The driver is done with <paramref name="statistics"/>: the last linear that reads them is pruned (see
    /// <see cref="IPruningMethod.ReleaseStatistics"/>). Nothing by default.
    /// </summary>
    void ReleaseStatistics(InputStatistics statistics)
    {
    }

    /// <summary>Prunes <paramref name="weight"/> [Rows, Cols] in place to <paramref name="pattern"/>.</summary>
    LinearPruneResult Prune(LinearTarget target, Span<float> weight, InputStatistics statistics, SparsityPattern pattern, CancellationToken cancellationToken);
}

/// <summary>Runs a stateless baseline method (magnitude, Wanda, SparseGPT) as a linear pruner.</summary>
internal sealed class MethodPruner(IPruningMethod method) : ILinearPruner
{
    /// <inheritdoc/>
    public string Name => method.Name;
    /// <inheritdoc/>
    public bool NeedsHessian => method.NeedsHessian;
    /// <inheritdoc/>
    public bool NeedsStatistics => method.NeedsStatistics;
    /// <inheritdoc/>
    public void CheckPattern(SparsityPattern pattern) => method.CheckPattern(pattern);

    /// <inheritdoc/>
    public void ReleaseStatistics(InputStatistics statistics) => method.ReleaseStatistics(statistics);

    /// <summary>The method's <see cref="IPruningMethod.Prune"/> on the target's [Rows, Cols].</summary>
    public LinearPruneResult Prune(LinearTarget target, Span<float> weight, InputStatistics statistics, SparsityPattern pattern, CancellationToken cancellationToken) =>
        method.Prune(weight, target.Rows, target.Cols, statistics, pattern, cancellationToken);
}
