using Copal.Model.Weights;
using Copal.Prune.Driver;
using Copal.Prune.Numerics;

namespace Copal.Prune.Continual;

/// <summary>
/// COPAL (continual pruning in adaptive language settings): at every step the mask of each linear is re-derived from
/// the <b>dense</b> parent's weights and the sensitivity accumulated over all datasets seen so far, so it neither
/// forgets the earlier datasets (their sensitivity stays in the state) nor freezes (pruned weights can come back,
/// because the dense weights are scored again). Score: w_ij²·S_j; the lowest are pruned per row (unstructured) or per
/// group of M (N:M). With <see cref="CopalOptions.Update"/> the kept weights are then reconstructed with the fixed
/// mask and the accumulated Hessian. With <see cref="CopalMaskRule.Obs"/> the mask is instead chosen by SparseGPT's
/// sweep over the dense weights with the accumulated Hessian (the column state is still kept up to date).
/// One instance serves one step; the state carries over to the next.
/// </summary>
public sealed class CopalPruner : ILinearPruner
{
    /// <summary>Continues <paramref name="state"/> (new or loaded) with its options.</summary>
    /// <param name="state">The run's state; updated in place by every <see cref="Prune"/>.</param>
    /// <param name="notice">Receives one-time messages (none at present; kept for the callers' signature).</param>
    public CopalPruner(CopalState state, Action<string>? notice = null)
    {
        State = state ?? throw new ArgumentNullException(nameof(state));
        _ = notice;
    }

    /// <summary>The state this pruner folds every dataset into.</summary>
    public CopalState State { get; }

    // How many Hessians this pruner has factored (tests count them per layer).
    private int _factorizations;

    /// <summary>How many Hessians this pruner has factored so far (the sensitivity's, the update's and the OBS sweep's).</summary>
    internal int Factorizations => Volatile.Read(ref _factorizations);

    /// <inheritdoc/>
    public string Name => "copal";

    /// <inheritdoc/>
    public bool NeedsHessian => State.Options.NeedsHessian;

    /// <inheritdoc/>
    public StatisticsUpstream Upstream => State.Options.ResolvedUpstream;

    /// <inheritdoc/>
    public bool NeedsUpstreamShift => State.Options.NeedsUpstreamShift;

    /// <inheritdoc/>
    public void CheckPattern(SparsityPattern pattern) => CheckPattern(State.Options, pattern);

    /// <summary>The OBS mask is SparseGPT's sweep (<see cref="ObsSweep"/>), with its block's constraint on N:M.</summary>
    internal static void CheckPattern(CopalOptions options, SparsityPattern pattern)
    {
        if (options.Mask == CopalMaskRule.Obs)
        {
            new SparseGptOptions().CheckPattern(pattern);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">The state cannot be used again (<see cref="CopalState"/> says when).</exception>
    public LinearPruneResult Prune(LinearTarget target, Span<float> weight, InputStatistics statistics, SparsityPattern pattern, CancellationToken cancellationToken)
    {
        State.ThrowIfSpent();
        ArgumentNullException.ThrowIfNull(statistics);
        ArgumentNullException.ThrowIfNull(pattern);
        PruneArguments.Check(Name, weight.Length, target.Rows, target.Cols, statistics, pattern, needsStats: true, needsHessian: NeedsHessian);
        PruneArguments.CheckFinite(Name, weight, target.Cols);
        int rows = target.Rows, cols = target.Cols, step = State.Datasets.Count;
        CopalOptions options = State.Options;
        LinearState linear = State.GetOrAdd(target.Name, rows, cols);
        if (linear.Steps != step)
        {
            throw new InvalidOperationException($"COPAL state of '{target.Name}' has {linear.Steps} datasets folded in, expected {step}: each linear is pruned once per step");
        }

        // From here on the state holds this step's fold, unsaved until Save.
        State.MarkFolding();
        // The other layers' accumulated Hessians leave memory: one layer's at a time.
        State.EnterLayer(target.Layer);
        EnterLayer(target.Layer);

        // 1. This dataset's sensitivity (normalized; pooled: its per-token column moments), folded into the state.
        if (options.Accumulate == SensitivityAccumulation.Pooled)
        {
            double[] perToken = statistics.ColumnMeanSquares.ToArray();
            double scale = PerToken(statistics);
            for (int j = 0; j < cols; j++)
            {
                perToken[j] *= scale;
            }
            SensitivityAccumulator.FoldPooled(linear.Columns, perToken, options.Decay * State.PooledTokenWeight(), statistics.Tokens, first: step == 0);
        }
        else
        {
            double[] columns = options.Sensitivity == SensitivityEstimator.Hessian
                ? StepSensitivity.Normalized(weight, rows, cols, (double[])GroupObsColumns(target, statistics, cancellationToken).Clone())
                : StepSensitivity.NormalizedColumns(weight, rows, cols, statistics, options, cancellationToken);
            SensitivityAccumulator.Fold(linear.Columns, columns, options.Accumulate, options.Decay, first: step == 0);
        }
        linear.Steps = step + 1;

        float[] original = weight.ToArray();
        if (options.Mask == CopalMaskRule.Obs)
        {
            // 2'. SparseGPT on the dense parent with the accumulated Hessian: mask and OBS update in one sweep.
            float[] hessian = options.ResolvedUpstream.CollectsBoth()
                ? GroupHessian(target, statistics, step)
                : HessianFor(AccumulatedHessian(target, statistics, step), linear.Columns, cols, options);
            SweepFactor factor = GroupFactor(target, hessian, cancellationToken);
            if (options.NeedsUpstreamShift && statistics.UpstreamShift is not null)
            {
                // Asymmetric calibration: toward the dense output, with the cross term pooled over every dataset seen
                // like the Hessian. Statistics without a cross term (a linear pruned on its own, outside the
                // layer-sequential driver) count as zero.
                DenseTargetShift.Apply(weight, rows, cols, factor, PooledCrossTerm(target, statistics, step), options.ResolvedDenseTarget, cancellationToken);
            }
            ObsSweep(factor, weight, rows, cols, pattern, options, cancellationToken);
            Pruned(target);
            return MaskApplication.Result(original, weight, rows, cols, statistics, cancellationToken);
        }

        // 2. The mask from the dense weights and the accumulated sensitivity.
        float[] w = weight.ToArray();
        double[] s = linear.Columns;
        MaskApplication.PerRow(w, rows, cols, pattern, (r, scores) =>
        {
            ReadOnlySpan<float> row = original.AsSpan(r * cols, cols);
            for (int j = 0; j < cols; j++)
            {
                double v = row[j];
                scores[j] = v * v * s[j];
            }
        }, cancellationToken);

        // 3. Optionally, reconstruct the kept weights for all datasets seen (the accumulated Hessian).
        if (options.Update)
        {
            float[] hessian = AccumulatedHessian(target, statistics, step);
            var mask = new bool[w.Length];
            for (int i = 0; i < w.Length; i++)
            {
                mask[i] = w[i] == 0f;
            }
            original.CopyTo(weight);
            MaskedObsUpdate.Apply(weight, rows, cols, mask, GroupFactor(target, HessianFor(hessian, s, cols, options), cancellationToken), cancellationToken);
        }
        else
        {
            w.CopyTo(weight);
        }
        Pruned(target);
        return MaskApplication.Result(statistics.HasHessian ? original : null, weight, rows, cols, statistics, cancellationToken);
    }

    /// <summary>
    /// The factor SparseGPT's sweep needs of <paramref name="hessian"/> (f32 as stored), with SparseGPT's dead inputs
    /// and COPAL's dampening.
    /// </summary>
    internal static SweepFactor Factor(float[] hessian, int cols, CopalOptions options, CancellationToken cancellationToken)
    {
        // Statistics released on the way here (the dense side, an earlier group's) are garbage beside the factoring's
        // two f64 [cols, cols] arrays, and afterwards the factored copy of H is.
        CollectIfLarge(cols);
        SweepFactor factor = SweepFactor.Compute(hessian, cols, new SparseGptOptions(PercentDamp: options.PercentDamp), cancellationToken);
        CollectIfLarge(cols);
        return factor;
    }

    // Large-object garbage is not collected before the next large allocation unless asked: at LLaMA-7B's down_proj an
    // f64 [cols, cols] array is 0.97 GB, and the factored H, the state's cross term after its spill and the dense-target
    // move's arrays (2 GB together) took a layer-0 step to 8.1 GiB where the live data were about 6.
    private static void CollectIfLarge(int cols)
    {
        if ((long)cols * cols * sizeof(double) >= LayerwisePruner.LargeWorkspaceBytes)
        {
            GC.Collect();
        }
    }

    /// <summary>
    /// SparseGPT's whole algorithm (dead inputs, blocks, its mask rules, error propagation) on <paramref name="weight"/>
    /// with the factor of COPAL's Hessian in place of one dataset's. An unstructured block prunes exactly ⌊size·s⌋, the
    /// sparsity asked for (SparseGPT's reference takes one more); the recorded COPAL runs were made so.
    /// </summary>
    internal static void ObsSweep(SweepFactor factor, Span<float> weight, int rows, int cols, SparsityPattern pattern, CopalOptions options, CancellationToken cancellationToken)
    {
        CollectIfLarge(cols);
        var sparseGpt = new SparseGptPruner(new SparseGptOptions(PercentDamp: options.PercentDamp, ExactCount: true));
        double[] w = sparseGpt.PruneToDouble(weight.ToArray(), rows, cols, factor, pattern, cancellationToken, out _);
        for (int i = 0; i < w.Length; i++)
        {
            weight[i] = (float)w[i];
        }
    }

    // With max accumulation the Hessian's diagonal follows the column state, so the OBS mask and update weigh each
    // input by the dataset that needs it most, as the fixed mask does (see SensitivityAccumulator.MaxDiagonalHessian).
    private static float[] HessianFor(float[] hessian, double[] columns, int cols, CopalOptions options)
        => options.Accumulate == SensitivityAccumulation.Max ? SensitivityAccumulator.MaxDiagonalHessian(hessian, columns, cols) : hessian;

    // Statistics are running means over sequences of per-sequence sums: × sequences/tokens gives per-token means.
    private static double PerToken(InputStatistics statistics) => statistics.Tokens > 0 ? statistics.Sequences / (double)statistics.Tokens : 1.0;

    // The mixed or dense-past Hessians of the layer being pruned, per input group leader (q/k/v and gate/up share theirs).
    private readonly Dictionary<string, float[]> _groupHessians = new(StringComparer.Ordinal);
    // The sweep's factor of each input group's Hessian in the layer being pruned, with the array it factors: q/k/v
    // (gate/up) share one Hessian, so it is factored once, not three (two) times. A linear pruned with another array
    // (max accumulation gives each its own diagonal; a Hessian read again from the spill) is factored anew.
    private readonly Dictionary<string, (float[] Hessian, SweepFactor Factor)> _groupFactors = new(StringComparer.Ordinal);
    // This dataset's Hessian sensitivity coefficients (before normalization) of each input group in the layer being
    // pruned, with the statistics they came from: q/k/v (gate/up) read one statistics object, so its H is factored once.
    private readonly Dictionary<string, (InputStatistics Statistics, int Sequences, double[] Columns)> _groupObsColumns = new(StringComparer.Ordinal);
    // Each input group's pooled cross term in the layer being pruned (this dataset's statistics array, overwritten).
    private readonly Dictionary<string, double[]> _groupCrossTerms = new(StringComparer.Ordinal);
    // How many linears of each input group the layer being pruned has yet to prune.
    private readonly Dictionary<string, int> _groupPending = new(StringComparer.Ordinal);
    private int _layer = -1;

    private void EnterLayer(int layer)
    {
        if (_layer != layer)
        {
            _groupHessians.Clear();
            _groupFactors.Clear();
            _groupObsColumns.Clear();
            _groupCrossTerms.Clear();
            _groupPending.Clear();
            _layer = layer;
        }
    }

    /// <summary>
    /// After each linear: once the last linear of its input group is pruned, the group's Hessians are not needed again
    /// this step, so the mixed one is dropped and the state's go to its spill (<see cref="CopalState.Release"/>).
    /// </summary>
    private void Pruned(LinearTarget target)
    {
        LinearId leaderId = target.Id.InputGroupLeader();
        string leaderName = LlamaTensorNames.Linear(target.Layer, leaderId);
        int pending = _groupPending.TryGetValue(leaderName, out int p) ? p : LinearIds.All.Count(id => id.InputGroupLeader() == leaderId);
        if (--pending > 0)
        {
            _groupPending[leaderName] = pending;
            return;
        }
        _groupPending.Remove(leaderName);
        _groupHessians.Remove(leaderName);
        _groupFactors.Remove(leaderName);
        _groupObsColumns.Remove(leaderName);
        _groupCrossTerms.Remove(leaderName);
        if (State.Linears.ContainsKey(leaderName))
        {
            State.Release(leaderName);
        }
    }

    private SweepFactor GroupFactor(LinearTarget target, float[] hessian, CancellationToken cancellationToken)
    {
        string leaderName = LlamaTensorNames.Linear(target.Layer, target.Id.InputGroupLeader());
        if (_groupFactors.TryGetValue(leaderName, out (float[] Hessian, SweepFactor Factor) cached) && ReferenceEquals(cached.Hessian, hessian))
        {
            return cached.Factor;
        }
        _groupFactors.Remove(leaderName); // the previous factor may go before the new one is made
        SweepFactor factor = Factor(hessian, target.Cols, State.Options, cancellationToken);
        Interlocked.Increment(ref _factorizations);
        _groupFactors[leaderName] = (hessian, factor);
        return factor;
    }

    // StepSensitivity.ObsColumns of the statistics' Hessian, made once for the linears that read the same statistics.
    private double[] GroupObsColumns(LinearTarget target, InputStatistics statistics, CancellationToken cancellationToken)
    {
        string leaderName = LlamaTensorNames.Linear(target.Layer, target.Id.InputGroupLeader());
        if (_groupObsColumns.TryGetValue(leaderName, out var cached) && ReferenceEquals(cached.Statistics, statistics) && cached.Sequences == statistics.Sequences)
        {
            return cached.Columns;
        }
        double[] columns = StepSensitivity.ObsColumns(statistics.Hessian, target.Cols, State.Options.PercentDamp, cancellationToken);
        Interlocked.Increment(ref _factorizations);
        _groupObsColumns[leaderName] = (statistics, statistics.Sequences, columns);
        return columns;
    }

    /// <summary>
    /// The cross term K the dense target moves the weights with: each dataset's, collected at its own step through that
    /// step's two upstreams, folded like the Hessian (<see cref="SensitivityAccumulation.Pooled"/>, weighted by tokens).
    /// Like the Gram, an earlier dataset's K is stale (through the upstream as pruned then); without it (a state written
    /// before K was kept) the earlier datasets' K counts as zero. Folded once per input group and step; the pooled K
    /// replaces this dataset's in <paramref name="statistics"/> (at LLaMA-7B's down_proj a second f64 copy is 0.97 GB).
    /// </summary>
    private double[] PooledCrossTerm(LinearTarget target, InputStatistics statistics, int step)
    {
        double[] shift = statistics.UpstreamShift!;
        string leaderName = LlamaTensorNames.Linear(target.Layer, target.Id.InputGroupLeader());
        if (_groupCrossTerms.TryGetValue(leaderName, out double[]? pooled) && ReferenceEquals(pooled, shift))
        {
            return shift;
        }
        LinearState leader = State.Linears[leaderName];
        if (leader.CrossTermSteps != step + 1)
        {
            if (step > 0 && leader.HasCrossTerm && leader.CrossTermSteps != step)
            {
                throw new InvalidOperationException($"COPAL state of '{leaderName}' has its cross term at step {leader.CrossTermSteps}, expected {step} or {step + 1}");
            }
            float[] k = step > 0 && leader.HasCrossTerm ? State.LoadHessian(leader, slot: CopalState.HessianSlot.CrossTerm) : new float[shift.LongLength];
            SensitivityAccumulator.FoldHessianPooled(k, shift, PerToken(statistics), State.Options.Decay * State.PooledTokenWeight(), statistics.Tokens, first: step == 0);
            leader.CrossTerm = k;
            leader.HasCrossTerm = true;
            leader.CrossTermSteps = step + 1;
        }
        float[] folded = State.LoadHessian(leader, slot: CopalState.HessianSlot.CrossTerm);
        for (long i = 0; i < shift.LongLength; i++)
        {
            shift[i] = folded[i];
        }
        _groupCrossTerms[leaderName] = shift;
        // The group's linears use the widened copy, so a large K may go to the spill before the sweep.
        State.Release(leaderName, CopalState.HessianSlot.CrossTerm);
        return shift;
    }

    // One input group's fold inputs: this dataset through this step's pruned upstream and through the dense one.
    private readonly record struct GroupFold(string Leader, InputStatistics Pruned, InputStatistics Dense, int Cols, double PriorWeight, int Step);

    /// <summary>
    /// The Hessian an input group is pruned with under <see cref="StatisticsUpstream.Mixed"/> or
    /// <see cref="StatisticsUpstream.DensePast"/>, made once per group and step (q/k/v and gate/up share theirs). The
    /// dense side's statistics are not read again in this step, so they are released.
    /// </summary>
    private float[] GroupHessian(LinearTarget target, InputStatistics statistics, int step)
    {
        string leaderName = LlamaTensorNames.Linear(target.Layer, target.Id.InputGroupLeader());
        if (_groupHessians.TryGetValue(leaderName, out float[]? cached))
        {
            return cached;
        }
        var group = new GroupFold(leaderName, statistics, statistics.DenseUpstream ?? statistics, target.Cols, State.Options.Decay * State.PooledTokenWeight(), step);
        float[] hessian = State.Options.ResolvedUpstream == StatisticsUpstream.Mixed ? MixedHessian(target, group) : DensePastHessian(target, group);
        statistics.DenseUpstream = null;
        _groupHessians[leaderName] = hessian;
        return hessian;
    }

    /// <summary>
    /// <see cref="StatisticsUpstream.Mixed"/>: the earlier datasets' Gram through this step's pruned upstream is not
    /// known without their data. The state holds two estimates of it: as collected through the upstream pruned at
    /// each dataset's own step (sees pruning, but stale) and through the dense upstream (never stale, sees no
    /// pruning). Their mean stands in for it; this dataset counts with its Gram through this step's pruned upstream.
    /// Pooled by tokens as <see cref="SensitivityAccumulation.Pooled"/>: H = ½·(H_main ⊕ G) + ½·(H_dense ⊕ G), ⊕ the
    /// token-weighted fold, which is the fold of ½·(H_main + H_dense) with G. Both state matrices then fold in this
    /// dataset, each through its own upstream. Statistics without a dense side (a linear pruned on its own, outside the
    /// layer-sequential driver) count as the same through both upstreams; the result is then the pruned upstream's.
    /// The folded dense-side matrix goes to the state's spill.
    /// </summary>
    private float[] MixedHessian(LinearTarget target, GroupFold group)
    {
        (string leaderName, InputStatistics statistics, InputStatistics denseSide, int cols, double priorWeight, int step) = group;
        float[]? densePast = step == 0 ? null : State.LoadHessian(State.Linears[leaderName], slot: CopalState.HessianSlot.DenseUpstream);
        float[] main = AccumulatedHessian(target, statistics, step);
        LinearState leader = State.Linears[leaderName];
        float[] hessian = main;
        if (densePast is not null)
        {
            // The dense side's estimate, folded with this dataset's Gram exactly as the main fold does, then averaged
            // with the main one in the same array.
            hessian = new float[main.LongLength];
            SensitivityAccumulator.FoldHessianPooled(densePast, statistics.Hessian, PerToken(statistics), priorWeight, statistics.Tokens, first: false, hessian);
            for (long i = 0; i < hessian.LongLength; i++)
            {
                hessian[i] = (float)(0.5 * ((double)main[i] + hessian[i]));
            }
        }
        float[] dense = densePast ?? new float[(long)cols * cols];
        SensitivityAccumulator.FoldHessianPooled(dense, denseSide.Hessian, PerToken(denseSide), priorWeight, denseSide.Tokens, first: step == 0);
        PackedSymmetric.MirrorUpper(dense, cols);
        leader.DenseUpstreamHessian = dense;
        leader.HasDenseUpstreamHessian = true;
        // The folded dense-side matrix is not read again in this step.
        State.Release(leaderName, CopalState.HessianSlot.DenseUpstream);
        return hessian;
    }

    /// <summary>
    /// <see cref="StatisticsUpstream.DensePast"/>: the earlier datasets' Gram through this step's pruned upstream is not
    /// known without their data; their Gram through the dense upstream stands in for it (never stale: the dense model
    /// does not change). The state accumulates each dataset's Gram through the dense upstream, H ← H ⊕ D_t, and the
    /// Hessian pruned with is H ⊕ G_t, with G_t this dataset's Gram through this step's pruned upstream (⊕ the
    /// token-weighted fold of <see cref="SensitivityAccumulation.Pooled"/>). At step 1 that is SparseGPT on D1 exactly.
    /// Statistics without a dense side (a linear pruned on its own) count as the same through both upstreams.
    /// </summary>
    private float[] DensePastHessian(LinearTarget target, GroupFold group)
    {
        (string leaderName, InputStatistics statistics, InputStatistics denseSide, int cols, double priorWeight, int step) = group;
        float[]? past = step == 0 ? null : State.LoadHessian(State.Linears[leaderName]);
        var hessian = new float[(long)cols * cols];
        SensitivityAccumulator.FoldHessianPooled(past ?? hessian, statistics.Hessian, PerToken(statistics), priorWeight, statistics.Tokens, first: step == 0, hessian);
        PackedSymmetric.MirrorUpper(hessian, cols);
        // Then the state takes this dataset through the dense upstream (folded in place, after the line above read it).
        AccumulatedHessian(target, denseSide, step);
        return hessian;
    }

    // The accumulated Hessian lives on the input group's first linear (q for q/k/v, gate for gate/up): they share X.
    // It is read from the state's file (or spill) when its layer is pruned and folded once per step.
    private float[] AccumulatedHessian(LinearTarget target, InputStatistics statistics, int step)
    {
        LinearId leaderId = target.Id.InputGroupLeader();
        string leaderName = LlamaTensorNames.Linear(target.Layer, leaderId);
        LinearState leader = leaderName == target.Name ? State.GetOrAdd(target.Name, target.Rows, target.Cols) : State.Linears[leaderName];
        int cols = target.Cols;
        CopalOptions options = State.Options;
        if (leader.HessianSteps == step && (step == 0 || leader.HasHessian))
        {
            float[] h = step == 0 ? new float[(long)cols * cols] : State.LoadHessian(leader);
            if (options.Accumulate == SensitivityAccumulation.Pooled)
            {
                SensitivityAccumulator.FoldHessianPooled(h, statistics.Hessian, PerToken(statistics), options.Decay * State.PooledTokenWeight(), statistics.Tokens, first: step == 0);
            }
            else
            {
                SensitivityAccumulator.FoldHessian(h, statistics.Hessian, cols, options.Decay, first: step == 0);
            }
            // Stored as the upper triangle: the matrix in memory is made exactly what a reload gives.
            PackedSymmetric.MirrorUpper(h, cols);
            leader.Hessian = h;
            leader.HasHessian = true;
            leader.HessianSteps = step + 1;
        }
        else if (leader.HessianSteps != step + 1 || !leader.HasHessian)
        {
            throw new InvalidOperationException($"COPAL state of '{leaderName}' has its Hessian at step {leader.HessianSteps}, expected {step} or {step + 1}");
        }
        return State.LoadHessian(leader);
    }
}
