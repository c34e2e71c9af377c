using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// SparseGPT factors U from each distinct input's Hessian once: q/k/v read one input and gate/up another, so a
/// layer's seven linears need four factorizations (q/k/v, o, gate/up, down), not seven. The shared U is the one each
/// linear would have factored itself, so masks, weights and the dampening chosen are unchanged to the bit.
/// </summary>
public sealed class SharedFactorTests : IDisposable
{
    private readonly TempDir _temp = new("copal-shared-factor-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void A_layer_factors_each_distinct_input_once(bool trueSequential, bool includeEmbeddings)
    {
        var sparseGpt = new SparseGptPruner();
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, _temp.File("out"), new MethodPruner(sparseGpt),
            new PruneOptions(new SparsityPattern.Unstructured(0.5)) { TrueSequential = trueSequential, IncludeEmbeddings = includeEmbeddings }, calibration), backend);
        // stories260K: 5 layers of 4 distinct inputs; lm_head (tied) reads the final norm's output.
        Assert.Equal((5 * 4) + (includeEmbeddings ? 1 : 0), sparseGpt.Factorizations);
    }

    /// <summary>
    /// The driver lets each statistics object go once its last linear is pruned, so a kept U lives from the first linear
    /// of its input to the last, not to the end of the layer (or run): every object is released exactly once, after
    /// the last Prune that reads it.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void The_driver_releases_each_statistics_object_after_its_last_linear(bool trueSequential, bool includeEmbeddings)
    {
        var recorder = new ReleaseRecorder();
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, _temp.File("out"), new MethodPruner(recorder),
            new PruneOptions(new SparsityPattern.Unstructured(0.5)) { TrueSequential = trueSequential, IncludeEmbeddings = includeEmbeddings }, calibration), backend);

        List<InputStatistics> read = [.. recorder.Events.Where(e => !e.Released).Select(e => e.Statistics).Distinct()];
        Assert.Equal((5 * 4) + (includeEmbeddings ? 1 : 0), read.Count);
        foreach (InputStatistics stats in read)
        {
            int[] releases = [.. recorder.Events.Select((e, i) => (e, i)).Where(x => x.e.Released && ReferenceEquals(x.e.Statistics, stats)).Select(x => x.i)];
            int lastRead = recorder.Events.FindLastIndex(e => !e.Released && ReferenceEquals(e.Statistics, stats));
            Assert.Single(releases);
            Assert.Equal(lastRead + 1, releases[0]);
        }
    }

    /// <summary>Sharing follows the inputs the linears read, whatever the layout: fused q/k/v (Phi-3), biases (Qwen2), norms after the projections (OLMo 2).</summary>
    [Theory]
    [InlineData("Phi3ForCausalLM")]
    [InlineData("Qwen2ForCausalLM")]
    [InlineData("Olmo2ForCausalLM")]
    public void Other_layouts_factor_each_distinct_input_once(string architecture)
    {
        string model = _temp.File(architecture);
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = architecture,
            AttentionBias = architecture == "Qwen2ForCausalLM",
            QueryKeyNorm = architecture == "Olmo2ForCausalLM",
        };
        SyntheticModelWriter.Write(config, model, DType.F32, seed: 6, tokenizerDirectory: null);
        var calibration = CalibrationSet.FromTokens([("text", [.. Enumerable.Range(0, 129).Select(i => 1 + (i * 7919 % 31000))])], 4, 32, 0);
        var sparseGpt = new SparseGptPruner();
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(model, model + "-pruned", new MethodPruner(sparseGpt), new PruneOptions(new SparsityPattern.NM(2, 4)), calibration), backend);
        Assert.Equal(config.NumLayers * 4, sparseGpt.Factorizations);
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.0)] // a singular Hessian: the first factorization fails and the retry's dampening is the one shared
    public void Linears_that_share_statistics_get_the_bits_each_would_get_alone(double percentDamp)
    {
        const int Cols = 48;
        InputStatistics stats = Statistics(Cols, tokens: percentDamp == 0 ? Cols / 2 : 4 * Cols);
        var options = new SparseGptOptions(BlockSize: 16, PercentDamp: percentDamp);
        var shared = new SparseGptPruner(options);
        foreach ((int rows, SparsityPattern pattern, int seed) in new (int, SparsityPattern, int)[]
            { (40, new SparsityPattern.Unstructured(0.5), 1), (8, new SparsityPattern.NM(2, 4), 2), (8, new SparsityPattern.Unstructured(0.7), 3) })
        {
            float[] weight = Weight(rows, Cols, seed);
            double[] together = shared.PruneToDouble(weight, rows, Cols, stats, pattern, CancellationToken.None, out bool[] togetherMask);
            var alone = new SparseGptPruner(options);
            double[] expected = alone.PruneToDouble(weight, rows, Cols, stats, pattern, CancellationToken.None, out bool[] aloneMask);
            Assert.True(expected.AsSpan().SequenceEqual(together), $"{rows} rows, {pattern}");
            Assert.Equal(aloneMask, togetherMask);
            Assert.Equal(alone.LastPercentDamp, shared.LastPercentDamp);
            Assert.Equal(percentDamp == 0 ? options.DampFor(1) : percentDamp, shared.LastPercentDamp);
        }
        Assert.Equal(1, shared.Factorizations);
    }

    [Fact]
    public void Statistics_folded_into_after_a_prune_are_factored_anew()
    {
        const int Cols = 32;
        InputStatistics stats = Statistics(Cols, tokens: 64);
        var pruner = new SparseGptPruner(new SparseGptOptions(BlockSize: 16));
        float[] weight = Weight(8, Cols, 4);
        var pattern = new SparsityPattern.Unstructured(0.5);
        pruner.PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        stats.AddSequence(Activations(16, Cols, new Random(9)), 16);
        double[] after = pruner.PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        Assert.Equal(2, pruner.Factorizations);
        double[] fresh = new SparseGptPruner(new SparseGptOptions(BlockSize: 16)).PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        Assert.True(fresh.AsSpan().SequenceEqual(after));
    }

    [Fact]
    public void Equal_statistics_of_two_inputs_are_two_inputs_and_released_statistics_are_factored_again()
    {
        const int Cols = 32;
        InputStatistics a = Statistics(Cols, tokens: 64), b = Statistics(Cols, tokens: 64);
        var pruner = new SparseGptPruner(new SparseGptOptions(BlockSize: 16));
        float[] weight = Weight(8, Cols, 5);
        var pattern = new SparsityPattern.Unstructured(0.5);
        pruner.PruneToDouble(weight, 8, Cols, a, pattern, CancellationToken.None, out _);
        pruner.PruneToDouble(weight, 8, Cols, b, pattern, CancellationToken.None, out _);
        Assert.Equal(2, pruner.Factorizations);
        ((IPruningMethod)pruner).ReleaseStatistics(a);
        pruner.PruneToDouble(weight, 8, Cols, a, pattern, CancellationToken.None, out _);
        pruner.PruneToDouble(weight, 8, Cols, b, pattern, CancellationToken.None, out _);
        Assert.Equal(3, pruner.Factorizations);
    }

    /// <summary>
    /// Statistics made from Hessians (<see cref="InputStatistics.FromHessian"/>, as a Hessian accumulated across
    /// datasets is given) count no tokens: a merge changes their Hessian and their sequences alone, and must still
    /// be factored anew, not pruned with the factor of the Hessian before it.
    /// </summary>
    [Fact]
    public void Statistics_of_no_tokens_merged_into_after_a_prune_are_factored_anew()
    {
        const int Cols = 32;
        InputStatistics stats = InputStatistics.FromHessian(Statistics(Cols, tokens: 64).Hessian, Cols);
        InputStatistics other = InputStatistics.FromHessian(Statistics(Cols, tokens: 48).Hessian, Cols);
        var pruner = new SparseGptPruner(new SparseGptOptions(BlockSize: 16));
        float[] weight = Weight(8, Cols, 7);
        var pattern = new SparsityPattern.Unstructured(0.5);
        pruner.PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        stats.Merge(other);
        Assert.Equal(0, stats.Tokens);
        double[] after = pruner.PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        Assert.Equal(2, pruner.Factorizations);
        double[] fresh = new SparseGptPruner(new SparseGptOptions(BlockSize: 16)).PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        Assert.True(fresh.AsSpan().SequenceEqual(after));
    }

    [Fact]
    public void A_cancelled_factorization_is_not_kept()
    {
        const int Cols = 32;
        InputStatistics stats = Statistics(Cols, tokens: 64);
        var pruner = new SparseGptPruner(new SparseGptOptions(BlockSize: 16));
        float[] weight = Weight(8, Cols, 6);
        var pattern = new SparsityPattern.Unstructured(0.5);
        Assert.ThrowsAny<OperationCanceledException>(() => pruner.PruneToDouble(weight, 8, Cols, stats, pattern, new CancellationToken(canceled: true), out _));
        double[] after = pruner.PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        double[] fresh = new SparseGptPruner(new SparseGptOptions(BlockSize: 16)).PruneToDouble(weight, 8, Cols, stats, pattern, CancellationToken.None, out _);
        Assert.True(fresh.AsSpan().SequenceEqual(after));
    }

    // SparseGPT, with the order in which the driver hands it statistics and lets them go.
    private sealed class ReleaseRecorder : IPruningMethod
    {
        private readonly SparseGptPruner _sparseGpt = new();

        public List<(InputStatistics Statistics, bool Released)> Events { get; } = [];

        public string Name => "sparsegpt";

        public bool NeedsHessian => true;

        public void ReleaseStatistics(InputStatistics statistics)
        {
            Events.Add((statistics, true));
            ((IPruningMethod)_sparseGpt).ReleaseStatistics(statistics);
        }

        public LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern, CancellationToken cancellationToken = default)
        {
            Events.Add((stats!, false));
            return _sparseGpt.Prune(weight, rows, cols, stats, pattern, cancellationToken);
        }
    }

    private static InputStatistics Statistics(int cols, int tokens)
    {
        var stats = new InputStatistics(cols, collectHessian: true);
        stats.AddSequence(Activations(tokens, cols, new Random(cols + tokens)), tokens);
        return stats;
    }

    private static float[] Activations(int tokens, int cols, Random rng)
    {
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1);
        }
        return x;
    }

    private static float[] Weight(int rows, int cols, int seed) => Activations(rows, cols, new Random(seed));
}
