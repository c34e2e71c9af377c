using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// COPAL's estimates of the earlier datasets' statistics: <c>--upstream mixed</c> (two state matrices, their mean),
/// <c>--upstream dense-past</c> (the dense side's matrix alone), the defaults per pattern, and the driver's paired statistics.
/// </summary>
public sealed class UpstreamEstimateTests : IDisposable
{
    private readonly TempDir _temp = new("copal-upstream-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Dense_past_is_the_default_for_n_m_where_the_state_pools_gram_matrices_and_pruned_elsewhere()
    {
        var twoFour = new SparsityPattern.NM(2, 4);
        var half = new SparsityPattern.Unstructured(0.5);
        Assert.Equal(StatisticsUpstream.DensePast, new CopalOptions().DefaultUpstream(twoFour));
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptions().DefaultUpstream(half));
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptions(Accumulate: SensitivityAccumulation.Sum).DefaultUpstream(twoFour));
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptions(Mask: CopalMaskRule.Fixed).DefaultUpstream(twoFour));
        // A new run records the default it took; a given upstream and a resumed state's stay.
        Assert.Equal(StatisticsUpstream.DensePast, new CopalOptionChoices().WithDefaults(pattern: twoFour).Upstream);
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptionChoices().WithDefaults(pattern: half).Upstream);
        Assert.Equal(StatisticsUpstream.Mixed, new CopalOptionChoices(Upstream: StatisticsUpstream.Mixed).WithDefaults(pattern: twoFour).Upstream);
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptionChoices().WithDefaults(new CopalOptions { Upstream = StatisticsUpstream.Pruned }, twoFour).Upstream);
        Assert.Equal(StatisticsUpstream.Pruned, new CopalOptions().ResolvedUpstream);
    }

    [Theory]
    [InlineData("mixed")]
    [InlineData("dense-past")]
    public void Estimates_from_both_upstreams_are_refused_where_the_state_does_not_pool_gram_matrices(string name)
    {
        StatisticsUpstream upstream = CopalOptions.ParseUpstream(name);
        Assert.Equal(name, CopalOptions.UpstreamName(upstream));
        var e = Assert.Throws<PruningOptionException>(() => (new CopalOptions(Accumulate: SensitivityAccumulation.Sum) { Upstream = upstream }).Validate());
        Assert.Contains("--upstream", e.Message, StringComparison.Ordinal);
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains("pooled", e.Message, StringComparison.Ordinal);
        Assert.Throws<PruningOptionException>(() => CopalOptions.ParseUpstream("sideways"));
    }

    [Fact]
    public void The_earlier_datasets_count_as_the_mean_of_both_state_matrices_and_each_side_folds_through_its_own_upstream()
    {
        var pattern = new SparsityPattern.Unstructured(0.5);
        (float[][] outputs, CopalState state, InputStatistics[] pruned, InputStatistics[] denseSide) = TwoSteps(StatisticsUpstream.Mixed, pattern);

        double w = pruned[0].Tokens;
        float[] main1 = Fold(null, 0, pruned[0]), dense1 = Fold(null, 0, denseSide[0]);
        float[] main2 = Fold(main1, w, pruned[1]), dense2 = Fold(dense1, w, denseSide[1]);
        float[] denseEstimate = (float[])dense1.Clone();
        SensitivityAccumulator.FoldHessianPooled(denseEstimate, pruned[1].Hessian, pruned[1].Sequences / (double)pruned[1].Tokens, w, pruned[1].Tokens, first: false);
        var mixed = new float[main2.Length];
        for (int i = 0; i < mixed.Length; i++)
        {
            mixed[i] = (float)(0.5 * ((double)main2[i] + denseEstimate[i]));
        }
        Assert.Equal(Swept(mixed, pruned[1], pattern, state), outputs[1]);

        LinearState leader = state.Linears[s_target.Name];
        Assert.Equal(main2, state.LoadHessian(leader, keep: false));
        Assert.Equal(dense2, state.LoadHessian(leader, keep: false, CopalState.HessianSlot.DenseUpstream));
        // Differs from pruning with either state matrix alone.
        Assert.NotEqual(Swept(main2, pruned[1], pattern, state), outputs[1]);
    }

    [Fact]
    public void Dense_past_prunes_with_the_earlier_datasets_through_the_dense_upstream_and_keeps_only_that_matrix()
    {
        var pattern = new SparsityPattern.NM(2, 4);
        (float[][] outputs, CopalState state, InputStatistics[] pruned, InputStatistics[] denseSide) = TwoSteps(StatisticsUpstream.DensePast, pattern);

        // Step 1: SparseGPT on this dataset through the pruned upstream.
        Assert.Equal(Swept(Fold(null, 0, pruned[0]), pruned[0], pattern, state), outputs[0]);
        // Step 2: the first dataset through the dense upstream, pooled with this one through the pruned upstream.
        double w = pruned[0].Tokens;
        float[] dense1 = Fold(null, 0, denseSide[0]);
        Assert.Equal(Swept(Fold(dense1, w, pruned[1]), pruned[1], pattern, state), outputs[1]);
        // The state keeps the dense side only: both datasets through the dense upstream.
        LinearState leader = state.Linears[s_target.Name];
        Assert.Equal(Fold(dense1, w, denseSide[1]), state.LoadHessian(leader, keep: false));
        Assert.False(leader.HasDenseUpstreamHessian);
        // Differs from pruning with the earlier dataset's Gram through the pruned upstream (the pruned estimate).
        Assert.NotEqual(Swept(Fold(Fold(null, 0, pruned[0]), w, pruned[1]), pruned[1], pattern, state), outputs[1]);
    }

    private const int Rows = 8, Cols = 16;
    private static readonly LinearTarget s_target = new(0, LinearId.QProj, LlamaTensorNames.Linear(0, LinearId.QProj), Rows, Cols);
    private static readonly float[] s_dense = Weight(Rows, Cols, 1);

    // Two COPAL steps of one linear: each dataset's statistics through the pruned upstream, with other statistics of
    // the same tokens through the dense upstream attached (as the layer-sequential driver gives them).
    private static (float[][] Outputs, CopalState State, InputStatistics[] Pruned, InputStatistics[] DenseSide) TwoSteps(StatisticsUpstream upstream, SparsityPattern pattern)
    {
        var state = new CopalState("parent", "dense", new CopalOptions { Upstream = upstream });
        InputStatistics[] pruned = [Statistics(Cols, 10, 1.0, sequences: 4), Statistics(Cols, 11, 1.0, sequences: 3)];
        InputStatistics[] denseSide = [Statistics(Cols, 20, 1.5, sequences: 4), Statistics(Cols, 21, 1.5, sequences: 3)];
        var outputs = new float[2][];
        for (int step = 0; step < 2; step++)
        {
            pruned[step].DenseUpstream = denseSide[step];
            outputs[step] = (float[])s_dense.Clone();
            new CopalPruner(state).Prune(s_target, outputs[step], pruned[step], pattern, CancellationToken.None);
            state.CompleteStep(new CalibrationReport([$"d{step}"], pruned[step].Sequences, 6, 0, $"h{step}"), pattern);
        }
        return (outputs, state, pruned, denseSide);
    }

    // The dense weight after SparseGPT's sweep with the given Hessian.
    private static float[] Swept(float[] hessian, InputStatistics statistics, SparsityPattern pattern, CopalState state)
    {
        float[] w = (float[])s_dense.Clone();
        CopalPruner.ObsSweep(CopalPruner.Factor(hessian, Cols, state.Options, CancellationToken.None), w, Rows, Cols, pattern, state.Options, CancellationToken.None);
        return w;
    }

    [Fact]
    public void The_driver_collects_the_pruned_side_as_the_reference_order_and_the_dense_side_as_the_dense_upstream()
    {
        CalibrationSet calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K),
            [TestData.Path("text", "tinystories", "calib.txt")], 3, 32, seed: 0);
        var pattern = new SparsityPattern.Unstructured(0.5);
        using var backend = new CpuBackend();
        (string Dir, CopalState State) Run(StatisticsUpstream upstream)
        {
            string outDir = Path.Combine(_temp.Path, upstream.ToString());
            var state = new CopalState(ParentHash.Compute(TestData.Stories260K), TestData.Stories260K, new CopalOptions { Upstream = upstream });
            PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), new PruneOptions(pattern), calibration)
            {
                ExtraFiles = CopalRun.StateFiles(state, calibration, pattern),
            }, backend);
            return (outDir, CopalState.Load(outDir));
        }
        (string mixedDir, CopalState mixed) = Run(StatisticsUpstream.Mixed);
        (string densePastDir, CopalState densePast) = Run(StatisticsUpstream.DensePast);
        (string prunedDir, CopalState pruned) = Run(StatisticsUpstream.Pruned);
        (_, CopalState denseRun) = Run(StatisticsUpstream.Dense);
        using var a = SafetensorsCheckpoint.Open(mixedDir);
        using var b = SafetensorsCheckpoint.Open(prunedDir);
        using var c = SafetensorsCheckpoint.Open(densePastDir);
        foreach (TensorView t in b.Tensors)
        {
            // The first step prunes with this dataset alone, through the pruned upstream: the reference order's bytes.
            Assert.True(t.Bytes.SequenceEqual(a[t.Name].Bytes), t.Name);
            Assert.True(t.Bytes.SequenceEqual(c[t.Name].Bytes), t.Name);
        }
        // Dense-past keeps one matrix per input group: the dense upstream's.
        Assert.Contains(densePast.Linears.Values, l => l.HasHessian);
        foreach ((string name, LinearState l) in densePast.Linears.Where(kv => kv.Value.HasHessian))
        {
            Assert.False(l.HasDenseUpstreamHessian, name);
            Assert.Equal(denseRun.ReadHessian(name), densePast.ReadHessian(name));
        }
        int layers = 0;
        foreach ((string name, LinearState l) in mixed.Linears.Where(kv => kv.Value.HasHessian))
        {
            Assert.True(l.HasDenseUpstreamHessian, name);
            Assert.Equal(pruned.ReadHessian(name), mixed.ReadHessian(name));
            float[] denseSide = mixed.LoadHessian(l, keep: false, CopalState.HessianSlot.DenseUpstream);
            Assert.Equal(denseRun.ReadHessian(name), denseSide);
            if (name.Contains("layers.0.self_attn.q_proj", StringComparison.Ordinal))
            {
                // Layer 0's attention input has no upstream: both sides are the same.
                Assert.Equal(mixed.ReadHessian(name), denseSide);
            }
            else if (name.Contains("self_attn.q_proj", StringComparison.Ordinal))
            {
                layers++;
                Assert.NotEqual(mixed.ReadHessian(name), denseSide);
            }
        }
        Assert.Equal(4, layers);
        Assert.DoesNotContain(pruned.Linears.Values, l => l.HasDenseUpstreamHessian);
    }

    // The reference, from the fold's definition: per-token Gram matrices pooled by tokens.
    private static float[] Fold(float[]? prior, double priorTokens, InputStatistics s)
    {
        var h = prior is null ? new float[s.Hessian.Length] : (float[])prior.Clone();
        SensitivityAccumulator.FoldHessianPooled(h, s.Hessian, s.Sequences / (double)s.Tokens, priorTokens, s.Tokens, first: prior is null);
        PackedSymmetric.MirrorUpper(h, (int)Math.Sqrt(h.Length));
        return h;
    }

    private static float[] Weight(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, rows * cols).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
    }

    private static InputStatistics Statistics(int cols, int seed, double scale, int sequences)
    {
        var rng = new Random(seed);
        var stats = new InputStatistics(cols, collectHessian: true);
        for (int s = 0; s < sequences; s++)
        {
            const int tokens = 6;
            var x = new float[tokens * cols];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)(((rng.NextDouble() * 2) - 1) * (1 + (i % cols)) * scale);
            }
            stats.AddSequence(x, tokens);
        }
        return stats;
    }
}
