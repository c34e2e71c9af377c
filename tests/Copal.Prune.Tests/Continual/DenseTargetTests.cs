using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Prune.Numerics;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// <c>--dense-target α</c> (asymmetric calibration): the weights move to the least-squares optimum of the blended
/// target before SparseGPT's sweep; COPAL weights this dataset's shift by its share of the pooled Hessian; the driver
/// collects the shift through both upstreams; the state records α and a resumed run keeps it.
/// </summary>
public sealed class DenseTargetTests : IDisposable
{
    private readonly TempDir _temp = new("copal-dense-target-");

    public void Dispose() => _temp.Dispose();

    private const int Rows = 6, Cols = 10, Tokens = 40;

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)]
    public void The_moved_weights_are_the_least_squares_optimum_of_the_blended_target(double alpha)
    {
        float[] w = Random(Rows * Cols, 1), pruned = Random(Tokens * Cols, 2), dense = Random(Tokens * Cols, 3);
        for (int i = 0; i < dense.Length; i++)
        {
            dense[i] = pruned[i] + (0.3f * dense[i]); // the dense upstream's input: near the pruned one
        }
        double[] h = Product(pruned, pruned), k = Product(Minus(dense, pruned), pruned);
        float[] moved = (float[])w.Clone();
        SweepFactor factor = SweepFactor.Compute([.. h.Select(v => (float)v)], Cols, new SparseGptOptions(PercentDamp: 0), CancellationToken.None);
        DenseTargetShift.Apply(moved, Rows, Cols, factor, k, alpha, CancellationToken.None);

        // The normal equations of min ‖((1 − α)·W·X + α·W·X_dense) − Ŵ·X‖²: (target − Ŵ·X)·Xᵀ = 0.
        double[] residual = new double[Rows * Cols];
        double scale = 0;
        for (int r = 0; r < Rows; r++)
        {
            for (int t = 0; t < Tokens; t++)
            {
                double target = 0, fit = 0;
                for (int j = 0; j < Cols; j++)
                {
                    target += w[(r * Cols) + j] * (((1 - alpha) * pruned[(t * Cols) + j]) + (alpha * dense[(t * Cols) + j]));
                    fit += moved[(r * Cols) + j] * pruned[(t * Cols) + j];
                }
                for (int j = 0; j < Cols; j++)
                {
                    residual[(r * Cols) + j] += (target - fit) * pruned[(t * Cols) + j];
                    scale = Math.Max(scale, Math.Abs(target * pruned[(t * Cols) + j]));
                }
            }
        }
        Assert.All(residual, v => Assert.True(Math.Abs(v) <= 1e-4 * scale * Tokens, $"residual {v}, scale {scale}"));
        Assert.NotEqual(w, moved);
    }

    [Fact]
    public void A_zero_shift_or_scale_leaves_the_weights_as_they_are()
    {
        float[] w = Random(Rows * Cols, 4), x = Random(Tokens * Cols, 5);
        float[] h = [.. Product(x, x).Select(v => (float)v)];
        float[] moved = (float[])w.Clone();
        SweepFactor factor = SweepFactor.Compute(h, Cols, new SparseGptOptions(PercentDamp: 0.01), CancellationToken.None);
        DenseTargetShift.Apply(moved, Rows, Cols, factor, new double[Cols * Cols], 1.0, CancellationToken.None);
        Assert.Equal(w, moved);
        DenseTargetShift.Apply(moved, Rows, Cols, factor, Product(x, x), 0, CancellationToken.None);
        Assert.Equal(w, moved);
    }

    [Fact]
    public void Copal_moves_toward_the_dense_target_with_the_cross_term_pooled_like_the_hessian()
    {
        const double alpha = 0.5;
        var pattern = new SparsityPattern.NM(2, 4);
        var state = new CopalState("parent", "dense", new CopalOptions { Upstream = StatisticsUpstream.Pruned, DenseTarget = alpha });
        // q, k and v share their input, so one pruner factors their Hessian once; each must come out as if alone.
        LinearId[] group = [LinearId.QProj, LinearId.KProj, LinearId.VProj];
        float[][] dense = [.. group.Select((_, i) => Random(Rows * 12, 6 + (20 * i)))];
        InputStatistics[] stats = [Statistics(12, 10, sequences: 4), Statistics(12, 11, sequences: 3)];
        double[][] shifts = [[.. Random(144, 12).Select(v => 0.2 * v)], [.. Random(144, 13).Select(v => 0.2 * v)]];
        float[]? hessian = null, crossTerm = null;
        for (int step = 0; step < 2; step++)
        {
            stats[step].UpstreamShift = (double[])shifts[step].Clone(); // the pruner pools it in place
            float[][] outputs = [.. dense.Select(d => (float[])d.Clone())];
            var pruner = new CopalPruner(state);
            for (int i = 0; i < group.Length; i++)
            {
                pruner.Prune(new LinearTarget(0, group[i], LlamaTensorNames.Linear(0, group[i]), Rows, 12), outputs[i], stats[step], pattern, CancellationToken.None);
            }
            state.CompleteStep(new CalibrationReport([$"d{step}"], stats[step].Sequences, 6, 0, $"h{step}"), pattern);

            // The reference: the pooled Hessian and the pooled cross term (each dataset's per token, weighted by its
            // tokens), the weights moved with α times that, then the sweep.
            double perToken = stats[step].Sequences / (double)stats[step].Tokens;
            double prior = step == 0 ? 0 : stats[0].Tokens;
            hessian ??= new float[144];
            crossTerm ??= new float[144];
            SensitivityAccumulator.FoldHessianPooled(hessian, stats[step].Hessian, perToken, prior, stats[step].Tokens, first: step == 0);
            double share = step == 0 ? perToken : stats[step].Tokens * perToken / (prior + stats[step].Tokens);
            for (int j = 0; j < 144; j++)
            {
                crossTerm[j] = (float)((step == 0 ? 0 : prior / (prior + stats[step].Tokens) * crossTerm[j]) + (share * shifts[step][j]));
            }
            for (int i = 0; i < group.Length; i++)
            {
                float[] expected = (float[])dense[i].Clone();
                SweepFactor factor = CopalPruner.Factor(hessian, 12, state.Options, CancellationToken.None);
                DenseTargetShift.Apply(expected, Rows, 12, factor, [.. crossTerm.Select(v => (double)v)], alpha, CancellationToken.None);
                CopalPruner.ObsSweep(factor, expected, Rows, 12, pattern, state.Options, CancellationToken.None);
                Assert.Equal(expected, outputs[i]);

                float[] unmoved = (float[])dense[i].Clone();
                CopalPruner.ObsSweep(factor, unmoved, Rows, 12, pattern, state.Options, CancellationToken.None);
                Assert.NotEqual(unmoved, outputs[i]);
            }
        }
    }

    [Fact]
    public void A_version_3_state_resumes_with_the_earlier_datasets_cross_term_as_zero_as_it_ran()
    {
        // A version-3 state stored α but not the cross term: made here as a step without the target, then marked so.
        var pattern = new SparsityPattern.NM(2, 4);
        var target = new LinearTarget(0, LinearId.QProj, LlamaTensorNames.Linear(0, LinearId.QProj), Rows, 12);
        float[] dense = Random(Rows * 12, 6);
        InputStatistics[] stats = [Statistics(12, 10, sequences: 4), Statistics(12, 11, sequences: 3)];
        double[] shift = [.. Random(144, 13).Select(v => 0.2 * v)];
        var first = new CopalState("parent", "dense", new CopalOptions { Upstream = StatisticsUpstream.Pruned, DenseTarget = 0 });
        new CopalPruner(first).Prune(target, (float[])dense.Clone(), stats[0], pattern, CancellationToken.None);
        first.CompleteStep(new CalibrationReport(["d0"], stats[0].Sequences, 6, 0, "h0"), pattern);
        string dir = _temp.File("version-3");
        first.Save(dir);
        string manifest = Path.Combine(dir, CopalState.ManifestFileName);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!;
        json["format_version"] = 3;
        json["options"]!["dense_target"] = 0.5;
        File.WriteAllText(manifest, json.ToJsonString());

        CopalState resumed = CopalState.Load(dir);
        Assert.False(resumed.Linears[target.Name].HasCrossTerm);
        stats[1].UpstreamShift = (double[])shift.Clone();
        float[] output = (float[])dense.Clone();
        new CopalPruner(resumed).Prune(target, output, stats[1], pattern, CancellationToken.None);

        // The reference: the pooled Hessian, and this dataset's cross term with its share only.
        double prior = stats[0].Tokens, tokens = stats[1].Tokens;
        float[] hessian = new float[144], crossTerm = new float[144];
        SensitivityAccumulator.FoldHessianPooled(hessian, stats[0].Hessian, stats[0].Sequences / (double)stats[0].Tokens, 0, prior, first: true);
        SensitivityAccumulator.FoldHessianPooled(hessian, stats[1].Hessian, stats[1].Sequences / tokens, prior, tokens, first: false);
        SensitivityAccumulator.FoldHessianPooled(crossTerm, shift, stats[1].Sequences / tokens, prior, tokens, first: false);
        float[] expected = (float[])dense.Clone();
        SweepFactor factor = CopalPruner.Factor(hessian, 12, resumed.Options, CancellationToken.None);
        DenseTargetShift.Apply(expected, Rows, 12, factor, [.. crossTerm.Select(v => (double)v)], 0.5, CancellationToken.None);
        CopalPruner.ObsSweep(factor, expected, Rows, 12, pattern, resumed.Options, CancellationToken.None);
        Assert.Equal(expected, output);
        Assert.True(resumed.Linears[target.Name].HasCrossTerm);
    }

    [Fact]
    public void Options_refuse_a_share_outside_zero_to_one_and_settings_where_it_cannot_apply()
    {
        foreach (CopalOptions bad in new[]
        {
            new CopalOptions { DenseTarget = 1.5 },
            new CopalOptions { DenseTarget = -0.1 },
            new CopalOptions { DenseTarget = double.NaN },
            new CopalOptions(Accumulate: SensitivityAccumulation.Sum) { DenseTarget = 0.5 },
            new CopalOptions(Mask: CopalMaskRule.Fixed) { DenseTarget = 0.5 },
            new CopalOptions { DenseTarget = 0.5, Upstream = StatisticsUpstream.Dense },
        })
        {
            var e = Assert.Throws<PruningOptionException>(bad.Validate);
            Assert.Contains("'dense-target'", e.Message, StringComparison.Ordinal);
        }
        new CopalOptions { DenseTarget = 1, Upstream = StatisticsUpstream.DensePast }.Validate();
        // The defaults chosen on the held-out halves: 0.5 for unstructured sparsity, 0.75 for N:M.
        var twoFour = new SparsityPattern.NM(2, 4);
        Assert.Equal(0.5, new CopalOptions().ForPattern(new SparsityPattern.Unstructured(0.6)).ResolvedDenseTarget);
        Assert.Equal(0.75, new CopalOptions().ForPattern(twoFour).ResolvedDenseTarget);
        // Where the settings allow no shift, the default is 0 and validates.
        Assert.Equal(0, new CopalOptions(Accumulate: SensitivityAccumulation.Sum).ForPattern(twoFour).ResolvedDenseTarget);
        Assert.Equal(0, new CopalOptions { Upstream = StatisticsUpstream.Dense }.ForPattern(twoFour).ResolvedDenseTarget);
        new CopalOptions(Mask: CopalMaskRule.Fixed).ForPattern(twoFour).Validate();
    }

    [Fact]
    public void The_state_records_the_share_and_a_resumed_run_keeps_it()
    {
        var state = new CopalState("parent", "dense", new CopalOptions { Upstream = StatisticsUpstream.Pruned, DenseTarget = 0.25 });
        Assert.Equal(0.25, state.Manifest().Options.DenseTarget);
        CopalOptions resumed = new CopalOptionChoices().WithDefaults(state.Options, new SparsityPattern.NM(2, 4));
        Assert.Equal(0.25, resumed.ResolvedDenseTarget);
        // A manifest written before the option existed reads as 0.
        var old = System.Text.Json.JsonSerializer.Deserialize<CopalManifestOptions>("""{"Sensitivity":"output","Accumulate":"pooled","Decay":1,"Update":false,"PercentDamp":0.01,"Mask":"obs","Upstream":"pruned"}""")!;
        Assert.Equal(0, old.DenseTarget);
    }

    [Fact]
    public void The_driver_collects_a_zero_shift_where_no_layer_is_upstream_and_a_nonzero_one_after()
    {
        CalibrationSet calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K),
            [TestData.Path("text", "tinystories", "calib.txt")], 3, 32, seed: 0);
        var pattern = new SparsityPattern.Unstructured(0.5);
        using var backend = new CpuBackend();
        string Run(double alpha)
        {
            string outDir = Path.Combine(_temp.Path, alpha.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var state = new CopalState(ParentHash.Compute(TestData.Stories260K), TestData.Stories260K, new CopalOptions { Upstream = StatisticsUpstream.Pruned, DenseTarget = alpha });
            PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), new PruneOptions(pattern), calibration), backend);
            return outDir;
        }
        using var plain = SafetensorsCheckpoint.Open(Run(0));
        using var moved = SafetensorsCheckpoint.Open(Run(1));
        int same = 0, different = 0;
        foreach (TensorView t in plain.Tensors.Where(t => t.Name.Contains("_proj", StringComparison.Ordinal)))
        {
            bool equal = t.Bytes.SequenceEqual(moved[t.Name].Bytes);
            if (t.Name.StartsWith("model.layers.0.", StringComparison.Ordinal))
            {
                // Layer 0 reads the embeddings, and its statistics are collected with the layer still dense (no
                // --true-sequential): the same through both upstreams, so the shift is exactly zero.
                Assert.True(equal, t.Name);
                same++;
            }
            else if (!equal)
            {
                different++;
            }
        }
        Assert.Equal(7, same);
        // Every later layer's inputs reach it through a pruned layer.
        Assert.Equal((5 * 7) - 7, different);
    }

    private static InputStatistics Statistics(int cols, int seed, int sequences)
    {
        var stats = new InputStatistics(cols, collectHessian: true);
        for (int s = 0; s < sequences; s++)
        {
            stats.AddSequence(Random(6 * cols, seed + (100 * s)), 6);
        }
        return stats;
    }

    // Σ_t a_t·b_tᵀ for a, b [Tokens, Cols].
    private static double[] Product(float[] a, float[] b)
    {
        int tokens = a.Length / Cols;
        var p = new double[Cols * Cols];
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < Cols; i++)
            {
                for (int j = 0; j < Cols; j++)
                {
                    p[(i * Cols) + j] += (double)a[(t * Cols) + i] * b[(t * Cols) + j];
                }
            }
        }
        return p;
    }

    private static float[] Minus(float[] a, float[] b) => [.. a.Select((v, i) => v - b[i])];

    private static float[] Random(int length, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
    }
}
