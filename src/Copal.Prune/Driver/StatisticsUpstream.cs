namespace Copal.Prune.Driver;

/// <summary>
/// Which upstream layers a linear's input statistics are collected through. The upstream of layer l is layers 0..l−1;
/// the layer-sequential driver has both the dense ones and those already pruned in this run.
/// </summary>
public enum StatisticsUpstream
{
    /// <summary>The layers as pruned in this run: SparseGPT's and Wanda's reference order.</summary>
    Pruned,

    /// <summary>The dense layers (every layer sees the dense model's activations).</summary>
    Dense,

    /// <summary>
    /// Both, over the same tokens: the statistics through the pruned upstream, with those through the dense upstream
    /// attached (<see cref="InputStatistics.DenseUpstream"/>). COPAL's mixed estimate of the earlier datasets needs both.
    /// </summary>
    Mixed,

    /// <summary>
    /// Both, as for <see cref="Mixed"/>; COPAL keeps only the dense side's (the earlier datasets through the dense
    /// upstream) and prunes with it pooled with this dataset's statistics through the pruned upstream.
    /// </summary>
    DensePast,
}

/// <summary>What the layer-sequential driver collects for each <see cref="StatisticsUpstream"/>.</summary>
internal static class StatisticsUpstreamExtensions
{
    /// <summary>Whether the statistics come through both upstreams, with the dense side attached.</summary>
    public static bool CollectsBoth(this StatisticsUpstream upstream) => upstream is StatisticsUpstream.Mixed or StatisticsUpstream.DensePast;

    /// <summary>The name as on the command line (<c>--upstream</c>) and in COPAL's state manifest.</summary>
    public static string OptionName(this StatisticsUpstream upstream) => upstream == StatisticsUpstream.DensePast ? "dense-past" : upstream.ToString().ToLowerInvariant();
}
