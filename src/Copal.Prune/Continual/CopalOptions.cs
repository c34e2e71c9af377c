using System.Globalization;
using Copal.Prune.Driver;

namespace Copal.Prune.Continual;

/// <summary>How COPAL estimates the sensitivity of a weight on one dataset.</summary>
public enum SensitivityEstimator
{
    /// <summary>s_ij = w_ij²·E_t[x_j²]: the expected squared change of output i when w_ij is removed (the squared Wanda score).</summary>
    Output,
    /// <summary>s_ij = w_ij² / [H_t⁻¹]_jj: the optimal-brain-surgeon saliency with the dampened Hessian (as SparseGPT dampens it).</summary>
    Hessian,
}

/// <summary>How the per-dataset sensitivities are combined across the datasets seen so far.</summary>
public enum SensitivityAccumulation
{
    /// <summary>S_t = γ·S_{t−1} + ŝ_t.</summary>
    Sum,
    /// <summary>
    /// S_t = max(γ·S_{t−1}, ŝ_t), element by element: a weight is as important as on the dataset that needs it most.
    /// Where a Hessian is used (<c>--update</c>, <c>--mask obs</c>), its diagonal is set to S by a congruent rescaling
    /// of the summed Hessian (<see cref="SensitivityAccumulator.MaxDiagonalHessian"/>).
    /// </summary>
    Max,
    /// <summary>
    /// Pooled calibration without stored data: the column moments E[x_j²] and, where kept, the input Gram matrices
    /// XᵀX of every dataset are averaged weighted by token count (γ decays the past weight), without per-dataset
    /// normalization. That is exactly calibrating once on all datasets pooled, up to one effect: an earlier dataset's
    /// statistics were collected through the upstream layers as pruned at its own step. With <c>--mask fixed</c> the
    /// mask is Wanda's on the pooled data, with <c>--mask obs</c> SparseGPT's.
    /// </summary>
    Pooled,
}

/// <summary>How COPAL turns the state into a pruned weight at each step.</summary>
public enum CopalMaskRule
{
    /// <summary>
    /// The mask is fixed first from the dense weights and the accumulated column sensitivity (w_ij²·S_j per row or per
    /// N:M group); with <see cref="CopalOptions.Update"/> the kept weights are then reconstructed for that mask.
    /// </summary>
    Fixed,
    /// <summary>
    /// SparseGPT's algorithm on the dense parent with the accumulated normalized Hessian H_acc: the mask of each
    /// 128-column block (unstructured) or M-group (N:M) is chosen on the already-updated weights inside the OBS sweep.
    /// </summary>
    Obs,
}

/// <summary>Settings of a COPAL continual run; they are stored in the state and must stay the same when it is resumed.</summary>
/// <param name="Sensitivity">The per-dataset estimator.</param>
/// <param name="Accumulate">How datasets are combined.</param>
/// <param name="Decay">γ in (0, 1]: the weight of the past accumulated sensitivity at each new step (1 = no decay).</param>
/// <param name="Update">Reconstruct the kept weights (OBS update with the fixed COPAL mask and the accumulated Hessian); only with <see cref="CopalMaskRule.Fixed"/>.</param>
/// <param name="Mask">How the mask is chosen: fixed first from the column sensitivity, or inside SparseGPT's OBS sweep with H_acc.</param>
/// <remarks>
/// The defaults (pooled accumulation, the OBS mask) were chosen on held-out halves of the calibration files, never on
/// the evaluation splits (docs/copal.md, "How the defaults were chosen").
/// </remarks>
public sealed record CopalOptions(
    SensitivityEstimator Sensitivity = SensitivityEstimator.Output,
    SensitivityAccumulation Accumulate = SensitivityAccumulation.Pooled,
    double Decay = 1.0,
    bool Update = false,
    CopalMaskRule Mask = CopalMaskRule.Obs)
{
    /// <summary>Dampening of the Hessian for the OBS saliency and the update, as a fraction of its mean diagonal (SparseGPT's 0.01).</summary>
    public double PercentDamp { get; init; } = 0.01;

    /// <summary>
    /// Where the statistics come from (<see cref="StatisticsUpstream"/>); null: <see cref="StatisticsUpstream.Pruned"/>
    /// (<see cref="ResolvedUpstream"/>). A new run fills it in with <see cref="DefaultUpstream"/> for its pattern.
    /// </summary>
    public StatisticsUpstream? Upstream { get; init; }

    /// <summary>
    /// α in [0, 1]: the share of the dense model's output in each linear's reconstruction target (asymmetric
    /// calibration). SparseGPT reconstructs a linear's own output on the inputs that reach it through the pruned
    /// upstream, min ‖W·X − Ŵ·X‖, so each layer carries the error of the layers before it forward; α = 1 reconstructs
    /// the dense model's output instead, min ‖W·X_dense − Ŵ·X‖. With the target (1 − α)·W·X + α·W·X_dense, the
    /// optimum is SparseGPT's sweep over W + α·W·K·H⁻¹, K = Σ (x_dense − x)·xᵀ the cross term
    /// (<see cref="InputStatistics.UpstreamShift"/>) and H the Hessian pruned with. K is pooled over the datasets like
    /// the Gram, each dataset's collected at its own step (so it is stale like an earlier dataset's Gram) and kept in the
    /// state. 0 is SparseGPT's objective. Needs the pooled Gram and OBS mask, and an upstream other than dense (where K is zero).
    /// Null: <see cref="DefaultDenseTarget"/> for a new run's pattern (<see cref="ForPattern"/>), else 0.
    /// </summary>
    public double? DenseTarget { get; init; }

    /// <summary>α in effect: as given, else 0.</summary>
    public double ResolvedDenseTarget => DenseTarget ?? 0;

    /// <summary>
    /// The default α where the settings allow one (the pooled Gram with the OBS mask, an upstream other than dense),
    /// else 0. Chosen on the held-out halves of the calibration files (docs/copal.md).
    /// </summary>
    public double DefaultDenseTarget(SparsityPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (!PoolsGram || (Upstream ?? DefaultUpstream(pattern)) == StatisticsUpstream.Dense)
        {
            return 0;
        }
        return pattern is SparsityPattern.NM ? ChosenDenseTargetNM : ChosenDenseTargetUnstructured;
    }

    // The lowest means on the held-out halves with the cross term pooled (docs/copal.md): 0.5 at 50% and 60%, 0.75 at
    // 2:4; the whole target (1) overshoots, as it does for pooled calibration.
    private const double ChosenDenseTargetUnstructured = 0.5;
    private const double ChosenDenseTargetNM = 0.75;

    /// <summary>Whether the pruner needs <see cref="InputStatistics.UpstreamShift"/>.</summary>
    public bool NeedsUpstreamShift => ResolvedDenseTarget > 0;

    /// <summary>The upstream in effect: as given, else <see cref="StatisticsUpstream.Pruned"/>.</summary>
    public StatisticsUpstream ResolvedUpstream => Upstream ?? StatisticsUpstream.Pruned;

    /// <summary>
    /// The default upstream for a run at <paramref name="pattern"/>: <see cref="StatisticsUpstream.DensePast"/> for N:M
    /// where the state pools Gram matrices (<c>--accumulate pooled --mask obs</c>, the defaults), else
    /// <see cref="StatisticsUpstream.Pruned"/>. Chosen on the held-out halves of the calibration files, per kind of
    /// pattern (docs/copal.md): N:M masks move most from step to step, so the earlier datasets' Gram as collected at
    /// their own step is most stale there.
    /// </summary>
    public StatisticsUpstream DefaultUpstream(SparsityPattern pattern)
        => PoolsGram && pattern is SparsityPattern.NM ? StatisticsUpstream.DensePast : StatisticsUpstream.Pruned;

    /// <summary>These options with <see cref="Upstream"/> and <see cref="DenseTarget"/> set: as given, else their defaults for <paramref name="pattern"/>.</summary>
    public CopalOptions ForPattern(SparsityPattern pattern) => this with { Upstream = Upstream ?? DefaultUpstream(pattern), DenseTarget = DenseTarget ?? DefaultDenseTarget(pattern) };

    private bool PoolsGram => Accumulate == SensitivityAccumulation.Pooled && Mask == CopalMaskRule.Obs;

    /// <summary>Whether the run needs the input Hessian of each linear.</summary>
    public bool NeedsHessian => Sensitivity == SensitivityEstimator.Hessian || Update || Mask == CopalMaskRule.Obs;

    /// <summary>Whether the state keeps the accumulated Hessian H_acc (for the update or the OBS mask).</summary>
    public bool KeepsHessian => Update || Mask == CopalMaskRule.Obs;

    /// <summary>Throws a <see cref="PruningOptionException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(Decay > 0 && Decay <= 1))
        {
            throw new PruningOptionException("decay", Decay.ToString("R", CultureInfo.InvariantCulture), "a factor γ with 0 < γ ≤ 1");
        }
        if (!(PercentDamp >= 0 && double.IsFinite(PercentDamp)))
        {
            throw new PruningOptionException("percdamp", PercentDamp.ToString("R", CultureInfo.InvariantCulture), "a finite fraction ≥ 0 (e.g. 0.01)");
        }
        if (Accumulate == SensitivityAccumulation.Pooled && Sensitivity == SensitivityEstimator.Hessian)
        {
            throw new PruningOptionException("sensitivity", "hessian with --accumulate pooled", "output with --accumulate pooled (it pools the column moments and Gram matrices themselves; the OBS saliency of the pooled Hessian is what --mask obs uses)");
        }
        if (Upstream is StatisticsUpstream upstream && upstream.CollectsBoth() && !PoolsGram)
        {
            throw new PruningOptionException("upstream", UpstreamName(upstream), $"--accumulate pooled with --mask obs (the {UpstreamName(upstream)} estimate is one of pooled Gram matrices), or --upstream pruned or dense");
        }
        double alpha = ResolvedDenseTarget;
        if (!(alpha >= 0 && alpha <= 1))
        {
            throw new PruningOptionException("dense-target", alpha.ToString("R", CultureInfo.InvariantCulture), "a share α with 0 ≤ α ≤ 1");
        }
        if (alpha > 0 && !PoolsGram)
        {
            throw new PruningOptionException("dense-target", alpha.ToString("R", CultureInfo.InvariantCulture), "0 unless --accumulate pooled with --mask obs (the target is reconstructed by the OBS sweep with the pooled Hessian)");
        }
        if (alpha > 0 && ResolvedUpstream == StatisticsUpstream.Dense)
        {
            throw new PruningOptionException("dense-target", alpha.ToString("R", CultureInfo.InvariantCulture), "0 with --upstream dense (through the dense upstream every input is the dense model's already)");
        }
        if (Update && Mask == CopalMaskRule.Obs)
        {
            throw new PruningOptionException("update", "on with --mask obs", "off with --mask obs (its OBS sweep already reconstructs the kept weights); --update applies to --mask fixed");
        }
    }

    /// <summary>The option's name as on the command line and in the state manifest.</summary>
    public static string MaskName(CopalMaskRule mask) => mask == CopalMaskRule.Obs ? "obs" : "fixed";

    /// <summary>Parses <c>--mask</c>: fixed or obs.</summary>
    public static CopalMaskRule ParseMask(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fixed" => CopalMaskRule.Fixed,
        "obs" => CopalMaskRule.Obs,
        _ => throw new PruningOptionException("mask", text, "fixed or obs"),
    };

    /// <summary>The upstream's name as on the command line and in the state manifest.</summary>
    public static string UpstreamName(StatisticsUpstream upstream) => upstream.OptionName();

    /// <summary>Parses <c>--upstream</c>: pruned, dense, mixed or dense-past.</summary>
    public static StatisticsUpstream ParseUpstream(string text) => text.Trim().ToLowerInvariant() switch
    {
        "pruned" => StatisticsUpstream.Pruned,
        "dense" => StatisticsUpstream.Dense,
        "mixed" => StatisticsUpstream.Mixed,
        "dense-past" => StatisticsUpstream.DensePast,
        _ => throw new PruningOptionException("upstream", text, "pruned, dense, mixed or dense-past"),
    };

    /// <summary>Parses <c>--sensitivity</c>: output or hessian.</summary>
    public static SensitivityEstimator ParseSensitivity(string text) => text.Trim().ToLowerInvariant() switch
    {
        "output" => SensitivityEstimator.Output,
        "hessian" => SensitivityEstimator.Hessian,
        _ => throw new PruningOptionException("sensitivity", text, "output or hessian"),
    };

    /// <summary>Parses <c>--accumulate</c>: sum, max or pooled.</summary>
    public static SensitivityAccumulation ParseAccumulation(string text) => text.Trim().ToLowerInvariant() switch
    {
        "sum" => SensitivityAccumulation.Sum,
        "max" => SensitivityAccumulation.Max,
        "pooled" => SensitivityAccumulation.Pooled,
        _ => throw new PruningOptionException("accumulate", text, "sum, max or pooled"),
    };
}
