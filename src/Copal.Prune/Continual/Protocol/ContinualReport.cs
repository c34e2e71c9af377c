namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// The content of report.json of <c>copal continual</c>. Seeds: the calibration seeds, one protocol run each, in the
/// order of every variant's <see cref="VariantReport.Seeds"/>. PreconditionWarning: one line when a data-dependent
/// reset baseline's precondition fails on some seed, null otherwise; Preconditions: per reset baseline and seed, the
/// datasets where calibrating on them did not help them. CopalOptions: the options of the COPAL variants, null when
/// none ran (no copal in the methods).
/// </summary>
/// <param name="Model">The dense model folder, as given.</param>
/// <param name="Pattern">The sparsity pattern of every step, as text ("0.5", "2:4").</param>
/// <param name="NSamples">Calibration windows per dataset and step.</param>
/// <param name="SeqLen">Tokens per calibration window.</param>
/// <param name="EvalSeqLen">Tokens per perplexity window.</param>
/// <param name="EvalLimitChunks">Perplexity windows per dataset at most; null for all.</param>
/// <param name="Seeds">The calibration seeds, one protocol run each.</param>
/// <param name="Device">Where it ran: the backend's kind and device name.</param>
/// <param name="CopalOptions">The COPAL variants' options as stored in their state; null when none ran.</param>
/// <param name="Joint">How the joint references are pruned, in words (<see cref="ContinualRunner.JointDescription"/>, or <see cref="ContinualRunner.NoJointDescription"/> where none ran).</param>
/// <param name="Metrics">What the metrics mean, in words (<see cref="ContinualRunner.MetricsDescription"/>).</param>
/// <param name="BwtConvention">BWT's sign convention, in words (<see cref="ContinualRunner.BwtConvention"/>).</param>
/// <param name="PreconditionWarning">One line when a reset baseline's precondition fails on some seed; null otherwise.</param>
/// <param name="Preconditions">Per data-dependent reset baseline and seed, whether its precondition holds.</param>
/// <param name="Datasets">The datasets, in arrival order.</param>
/// <param name="Variants">Every method variant's runs and metrics.</param>
/// <param name="Seconds">Wall time of the whole protocol, from the dense evaluation on; tokenizing (<see cref="ContinualRunner.Prepare"/>) not included.</param>
/// <param name="PeakWorkingSetBytes">The process's peak resident memory at the end.</param>
public sealed record ContinualReport(
    string Model,
    string Pattern,
    int NSamples,
    int SeqLen,
    int EvalSeqLen,
    int? EvalLimitChunks,
    IReadOnlyList<ulong> Seeds,
    string Device,
    CopalManifestOptions? CopalOptions,
    string Joint,
    string Metrics,
    string BwtConvention,
    string? PreconditionWarning,
    IReadOnlyList<PreconditionReport> Preconditions,
    IReadOnlyList<ContinualDatasetReport> Datasets,
    IReadOnlyList<VariantReport> Variants,
    double Seconds,
    long PeakWorkingSetBytes)
{
    /// <summary>The tool that wrote the report: "copal continual".</summary>
    public string Tool { get; init; } = "copal continual";

    /// <summary>Where the COPAL variant's statistics come from: "pruned", "dense-past", "mixed" or "dense" (<see cref="Driver.StatisticsUpstream"/>); null, as <see cref="CopalOptions"/>, when no COPAL variant ran.</summary>
    public string? CopalUpstream { get; init; }
}

/// <summary>One dataset: its splits, token counts and the dense model's perplexity on its evaluation split.</summary>
/// <param name="Name">The dataset's name.</param>
/// <param name="Calibration">The calibration split, as <see cref="DataSplit.ToString"/> writes it.</param>
/// <param name="Evaluation">The evaluation split, likewise.</param>
/// <param name="CalibrationTokens">Tokens of the calibration split.</param>
/// <param name="EvaluationTokens">Tokens of the evaluation split.</param>
/// <param name="DensePerplexity">The dense model's perplexity on the evaluation split.</param>
public sealed record ContinualDatasetReport(string Name, string Calibration, string Evaluation, int CalibrationTokens, int EvaluationTokens, double DensePerplexity);

/// <summary>The precondition of one data-dependent reset baseline on one seed: R_reset[i, i] &lt; R_reset[1, i] for every i &gt; 1.</summary>
/// <param name="Variant">The reset variant ("wanda-reset").</param>
/// <param name="Seed">The calibration seed.</param>
/// <param name="Holds">Whether calibrating on every later dataset helped it.</param>
/// <param name="Failed">The names of the datasets where it did not.</param>
public sealed record PreconditionReport(string Variant, ulong Seed, bool Holds, IReadOnlyList<string> Failed);

/// <summary>One method variant, with one <see cref="SeedRun"/> per calibration seed and the means over seeds.</summary>
/// <param name="Name">"copal", "wanda-reset", "wanda-cumulative", …, "joint-copal", "joint-wanda", ….</param>
/// <param name="Method">The pruning method.</param>
/// <param name="Kind">copal, reset, cumulative or joint.</param>
/// <param name="IntransigenceReference">The variant whose diagonal R[i, i] intransigence is measured against (the method's joint; magnitude's is its reset, data-free); null without joint variants.</param>
/// <param name="Seeds">The protocol run on each seed, in the order of <see cref="ContinualReport.Seeds"/>.</param>
/// <param name="Mean">The four metrics and BWT averaged over the seeds (null where a seed has none).</param>
/// <param name="SeedsCopalLower">On how many seeds COPAL's final_gm_ratio is lower than this variant's (paired; this variant's null ratio from a final perplexity that overflowed counts as higher); null for COPAL itself or when COPAL did not run.</param>
public sealed record VariantReport(
    string Name,
    string Method,
    string Kind,
    string? IntransigenceReference,
    IReadOnlyList<SeedRun> Seeds,
    MetricSummary Mean,
    int? SeedsCopalLower);

/// <summary>The metrics of one run (or their means over seeds). See <see cref="ContinualMetrics"/>.</summary>
/// <param name="FinalGmRatio">exp(mean_i log(R[T, i] / dense_i)): the primary metric, lower is better.</param>
/// <param name="AiaGmRatio">exp(mean_t mean_{i≤t} log(R[t, i] / dense_i)).</param>
/// <param name="ForgettingLog">mean_{i&lt;T}(log R[T, i] − min_{l&lt;T} log R[l, i]); null when T = 1.</param>
/// <param name="IntransigenceLog">mean_i(log R[i, i] − log R_joint[i, i]); null without the joint reference.</param>
/// <param name="Bwt">The classic BWT in perplexity; null when T = 1.</param>
public sealed record MetricSummary(double? FinalGmRatio, double? AiaGmRatio, double? ForgettingLog, double? IntransigenceLog, double? Bwt);

/// <summary>
/// One variant on one seed. R[t][i] is the perplexity on dataset i's evaluation split after step t (0-based here;
/// R[T, i] in the formulas is R[T−1][i]).
/// </summary>
/// <param name="Seed">The calibration seed.</param>
/// <param name="FinalGmRatio">exp(mean_i log(R[T, i] / dense_i)): primary.</param>
/// <param name="AiaGmRatio">exp(mean_t mean_{i≤t} log(R[t, i] / dense_i)): every step's model counts.</param>
/// <param name="ForgettingLog">mean_{i&lt;T}(log R[T, i] − min_{l&lt;T} log R[l, i]); null when T = 1.</param>
/// <param name="IntransigenceLog">mean_i(log R[i, i] − log R_joint[i, i]); null without the joint reference.</param>
/// <param name="Bwt">The classic BWT in perplexity, 1/(T−1)·Σ_{i&lt;T}(R[T, i] − R[i, i]); null when T = 1.</param>
/// <param name="FinalAverage">Σ_i R[T, i] / T in perplexity.</param>
/// <param name="R">The perplexity matrix [step][dataset].</param>
/// <param name="PruneSeconds">Wall time of each step's pruning (0 where the step's model was shared with another variant).</param>
/// <param name="EvalSeconds">Wall time of each step's evaluation on all datasets (0 where shared).</param>
/// <param name="MaskChange">Fraction of prunable weights whose zero/non-zero status changed from the previous step (null at step 1).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set after each step.</param>
public sealed record SeedRun(
    ulong Seed,
    double? FinalGmRatio,
    double? AiaGmRatio,
    double? ForgettingLog,
    double? IntransigenceLog,
    double? Bwt,
    double? FinalAverage,
    double[][] R,
    double[] PruneSeconds,
    double[] EvalSeconds,
    double?[] MaskChange,
    long[] PeakWorkingSetBytes);
