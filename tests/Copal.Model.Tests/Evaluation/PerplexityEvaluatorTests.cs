using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// The evaluator reads a window's logits from the backend a block of rows at a time; its figures must be those of the
/// whole window's logits row by row, for windows that span several blocks, strides below the window, and a base model,
/// computed here from this test's own softmax in double.
/// </summary>
public sealed class PerplexityEvaluatorTests : IDisposable
{
    private readonly TempDir _temp = new("copal-ppl-");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    private LlamaModel Model(string name, ulong seed)
    {
        string dir = _temp.File(name);
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), dir, DType.F32, seed, tokenizerDirectory: null);
        return LlamaModel.Load(dir, _backend);
    }

    /// <summary>
    /// A window's logits are computed a block of rows at a time from its last hidden states: nothing the evaluation
    /// allocates holds the window's positions × vocabulary (1 GB at 2,048 positions of a 128k vocabulary), on the
    /// backend or, with a base model, on its side too.
    /// </summary>
    [Fact]
    public void No_buffer_holds_a_whole_windows_logits()
    {
        using var recording = new LargestAllocation();
        string dir = _temp.File("recorded");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), dir, DType.F32, 5, tokenizerDirectory: null);
        using LlamaModel model = LlamaModel.Load(dir, recording), baseModel = LlamaModel.Load(dir, recording);
        recording.Largest = 0; // the weights are loaded
        const int SeqLen = 200;
        PerplexityResult r = PerplexityEvaluator.Evaluate(model, Inference.PositionLogits.Prompt(400), new PerplexityOptions(SeqLen), baseModel);
        Assert.Equal(2 * (SeqLen - 1), r.PredictedTokens);
        long vocab = model.Config.VocabSize;
        Assert.True(recording.Largest <= 64 * vocab, $"a buffer of {recording.Largest} floats: {recording.Largest / (double)vocab:F1} rows of the vocabulary, more than a block of 64");
    }

    /// <summary>A CPU backend that records the largest buffer allocated.</summary>
    private sealed class LargestAllocation() : CpuBackend(1), Copal.Tensors.Backends.IBackend
    {
        public long Largest { get; set; }

        Copal.Tensors.Backends.DeviceBuffer Copal.Tensors.Backends.IBackend.Allocate(long length)
        {
            Largest = Math.Max(Largest, length);
            return Allocate(length);
        }
    }

    [Theory]
    [InlineData(150, 150)]
    [InlineData(150, 40)]
    [InlineData(64, 64)]
    [InlineData(65, 30)]
    [InlineData(101, 101)] // 300 predicted tokens: 0.99·n is whole, so the 99th percentile is the value at rank 297, not 298
    public void Block_reads_give_the_sums_of_the_whole_windows(int seqLen, int stride)
    {
        using LlamaModel model = Model("a", 5), baseModel = Model("b", 6);
        int[] tokens = Inference.PositionLogits.Prompt(400);
        PerplexityResult r = PerplexityEvaluator.Evaluate(model, tokens, new PerplexityOptions(seqLen) { Stride = stride }, baseModel);

        // Whole-window logits, row by row, as the protocol counts them.
        int vocab = model.Config.VocabSize;
        int chunks = ((tokens.Length - seqLen) / stride) + 1;
        double nll = 0, baseNll = 0;
        long predicted = 0, agree = 0;
        var kls = new List<double>();
        for (int c = 0; c < chunks; c++)
        {
            int[] window = tokens[(c * stride)..((c * stride) + seqLen)];
            float[] logits = WindowLogits(model, window), baseLogits = WindowLogits(baseModel, window);
            for (int t = c == 0 || stride == seqLen ? 1 : seqLen - stride; t < seqLen; t++)
            {
                float[] row = logits[((t - 1) * vocab)..(t * vocab)], baseRow = baseLogits[((t - 1) * vocab)..(t * vocab)];
                nll -= LogSoftmax(row)[window[t]];
                baseNll -= LogSoftmax(baseRow)[window[t]];
                kls.Add(ReferenceKl(baseRow, row));
                agree += Sampler.ArgMax(baseRow) == Sampler.ArgMax(row) ? 1 : 0;
                predicted++;
            }
        }
        Assert.Equal(predicted, r.PredictedTokens);
        AssertRelative(Math.Exp(nll / predicted), r.Perplexity, "perplexity");
        AssertRelative(Math.Exp(baseNll / predicted), r.Comparison!.BasePerplexity, "base perplexity");
        Assert.Equal((double)agree / predicted, r.Comparison.Top1Agreement);

        // KL(base ‖ model) per predicted token, from this test's own softmax: the mean, the largest, and the 99th
        // percentile as the value at rank ⌈0.99·n⌉ of the sorted list (ties allowed either side).
        kls.Sort();
        AssertRelative(kls.Average(), r.Comparison.MeanKl, "mean KL");
        AssertRelative(kls[^1], r.Comparison.MaxKl, "max KL");
        int rank = (int)Math.Ceiling(0.99 * kls.Count);
        double tolerance = Tolerances.KernelRelative * r.Comparison.KlP99;
        int below = kls.Count(k => k < r.Comparison.KlP99 - tolerance), atOrBelow = kls.Count(k => k <= r.Comparison.KlP99 + tolerance);
        Assert.True(below < rank && rank <= atOrBelow, $"KL p99 {r.Comparison.KlP99:R}: {below} values below it and {atOrBelow} at or below, expected rank {rank} of {kls.Count}");
    }

    /// <summary>KL(p ‖ q) of the softmaxes of two logit rows, in double: Σ p·(log p − log q).</summary>
    private static double ReferenceKl(float[] baseLogits, float[] logits)
    {
        double[] logP = LogSoftmax(baseLogits), logQ = LogSoftmax(logits);
        double kl = 0;
        for (int i = 0; i < logP.Length; i++)
        {
            kl += Math.Exp(logP[i]) * (logP[i] - logQ[i]);
        }
        return kl;
    }

    private static double[] LogSoftmax(float[] logits)
    {
        double max = logits.Max();
        double sum = logits.Sum(l => Math.Exp(l - max));
        return logits.Select(l => l - max - Math.Log(sum)).ToArray();
    }

    private static void AssertRelative(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerances.KernelRelative * Math.Abs(expected), $"{what}: {actual:R}, expected {expected:R}");

    private static float[] WindowLogits(LlamaModel model, int[] window)
    {
        using RunState state = model.CreateState(window.Length, window.Length, allRowLogits: true);
        model.Forward(state, window, 0, LogitsMode.All);
        return model.ReadLogits(state, window.Length);
    }

    /// <summary>
    /// A base model whose context is shorter than the windows was refused by its state's allocation ("maxPositions: the
    /// model's context is 16 positions"), naming neither the base model nor options.SeqLen; now before any work, as the
    /// model's own context is.
    /// </summary>
    [Fact]
    public void A_base_model_with_a_shorter_context_than_the_windows_is_refused_naming_it()
    {
        using LlamaModel model = Model("a", 5);
        string dir = _temp.File("short");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 16 }, dir, DType.F32, 6, tokenizerDirectory: null);
        using LlamaModel baseModel = LlamaModel.Load(dir, _backend);
        int[] tokens = [.. Enumerable.Range(1, 100)];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => PerplexityEvaluator.Evaluate(model, tokens, new PerplexityOptions(32), baseModel));
        Assert.Equal("baseModel", e.ParamName);
        Assert.Contains("options.SeqLen 32", e.Message, StringComparison.Ordinal);
        Assert.Contains("context of 16", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
