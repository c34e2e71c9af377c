using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors.Backends;

namespace Copal.Prune.Driver;

/// <summary>
/// Statistics of every wanted linear's input through two upstreams over the same tokens (<see cref="StatisticsUpstream.Mixed"/>):
/// each sample runs once through the dense upstream (<see cref="DensePass"/> true) and once through the pruned one,
/// and each pass feeds its own <see cref="StatisticsTap"/>.
/// </summary>
internal sealed class PairedStatisticsTap(IBackend backend, int layer, IReadOnlyDictionary<LinearId, int> leaderColumns) : IForwardTap, IDisposable
{
    private readonly StatisticsTap _pruned = new(backend, layer, leaderColumns, collectHessian: true);
    private readonly StatisticsTap _dense = new(backend, layer, leaderColumns, collectHessian: true);

    /// <summary>Whether the pass now running is the dense upstream's (else the pruned upstream's).</summary>
    public bool DensePass { get; set; }

    public void OnLinearInput(int layer, LinearId linear, DeviceBuffer input, int rows)
        => (DensePass ? _dense : _pruned).OnLinearInput(layer, linear, input, rows);

    /// <summary>Folds the sample just run (both passes) into the statistics.</summary>
    public void FoldSample()
    {
        _dense.FoldSample();
        _pruned.FoldSample();
    }

    /// <summary>The statistics through the pruned upstream, per group leader, each with its dense side attached.</summary>
    public IReadOnlyDictionary<LinearId, InputStatistics> Statistics()
    {
        IReadOnlyDictionary<LinearId, InputStatistics> pruned = _pruned.Statistics, dense = _dense.Statistics;
        foreach ((LinearId leader, InputStatistics stats) in pruned)
        {
            stats.DenseUpstream = dense[leader];
        }
        return pruned;
    }

    public void Dispose()
    {
        _pruned.Dispose();
        _dense.Dispose();
    }
}
