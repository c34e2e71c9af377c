namespace Copal.Prune.Continual.Protocol;

/// <summary>The content of report.json of <c>copal continual</c>.</summary>
public sealed record ContinualReport(
    string Model,
    string Pattern,
    int NSamples,
    int SeqLen,
    int EvalSeqLen,
    int? EvalLimitChunks,
    ulong Seed,
    string Device,
    CopalManifestOptions CopalOptions,
    string Joint,
    string BwtConvention,
    IReadOnlyList<ContinualDatasetReport> Datasets,
    IReadOnlyList<VariantReport> Variants,
    double Seconds,
    long PeakWorkingSetBytes)
{
    public string Tool { get; init; } = "copal continual";
}

/// <summary>One dataset: its splits, token counts and the dense model's perplexity on its evaluation split.</summary>
public sealed record ContinualDatasetReport(string Name, string Calibration, string Evaluation, int CalibrationTokens, int EvaluationTokens, double DensePerplexity);

/// <summary>
/// One method variant across the steps. R[t][i] is the perplexity on dataset i's evaluation split after step t
/// (0-based here; R[T, i] in the formulas is R[T−1][i]).
/// </summary>
/// <param name="Name">"copal", "wanda-reset", "wanda-cumulative", "joint", …</param>
/// <param name="Method">The pruning method.</param>
/// <param name="Kind">copal, reset, cumulative or joint.</param>
/// <param name="R">The perplexity matrix [step][dataset].</param>
/// <param name="FinalAverage">Σ_i R[T, i] / T.</param>
/// <param name="Bwt">1/(T−1)·Σ_{i&lt;T} (R[T, i] − R[i, i]); null when T = 1.</param>
/// <param name="PruneSeconds">Wall time of each step's pruning.</param>
/// <param name="EvalSeconds">Wall time of each step's evaluation on all datasets.</param>
/// <param name="MaskChange">Fraction of prunable weights whose zero/non-zero status changed from the previous step (null at step 1).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set after each step.</param>
public sealed record VariantReport(
    string Name,
    string Method,
    string Kind,
    double[][] R,
    double FinalAverage,
    double? Bwt,
    double[] PruneSeconds,
    double[] EvalSeconds,
    double?[] MaskChange,
    long[] PeakWorkingSetBytes);
