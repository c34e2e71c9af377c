using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using PositionLogits = Copal.Model.Tests.Inference.PositionLogits;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// The window protocol's edges: the shortest window and the longest stride are taken and one step past them refused,
/// a text of exactly one window is one window, and a chunk limit above the windows there are changes nothing.
/// </summary>
public sealed class PerplexityWindowTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-pplw-").FullName;
    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;

    public PerplexityWindowTests()
    {
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), _temp, DType.F32, 5, tokenizerDirectory: null);
        _model = LlamaModel.Load(_temp, _backend);
    }

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    /// <summary>A window of 2 predicts one token; a window of 1 predicts none, and its perplexity would be exp(0/0).</summary>
    [Fact]
    public void A_window_of_two_is_the_shortest_taken()
    {
        PerplexityResult r = PerplexityEvaluator.Evaluate(_model, PositionLogits.Prompt(10), new PerplexityOptions(2));
        Assert.Equal(5, r.Chunks);
        Assert.Equal(5, r.PredictedTokens);
        Assert.True(double.IsFinite(r.Perplexity), $"perplexity {r.Perplexity}");

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => PerplexityEvaluator.Evaluate(_model, PositionLogits.Prompt(10), new PerplexityOptions(1)));
        Assert.Equal("options", e.ParamName);
        Assert.Contains("options.SeqLen must be between 2 and the model's context of 256 tokens, got 1", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A stride of the whole window leaves no token out; one more would skip a token between windows unscored.</summary>
    [Fact]
    public void A_stride_of_the_whole_window_is_the_longest_taken()
    {
        int[] tokens = PositionLogits.Prompt(40);
        PerplexityResult whole = PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(8) { Stride = 8 });
        PerplexityResult plain = PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(8));
        Assert.Equal(5, whole.Chunks);
        Assert.Equal(35, whole.PredictedTokens);
        Assert.Equal(plain.MeanNll, whole.MeanNll);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(8) { Stride = 9 }));
        Assert.Equal("options", e.ParamName);
        Assert.Contains("options.Stride must be between 1 and options.SeqLen (8), got 9", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A text exactly one window long is that window; one token shorter is refused, naming both counts.</summary>
    [Fact]
    public void A_text_of_exactly_one_window_is_one_window()
    {
        PerplexityResult r = PerplexityEvaluator.Evaluate(_model, PositionLogits.Prompt(16), new PerplexityOptions(16));
        Assert.Equal(1, r.Chunks);
        Assert.Equal(15, r.PredictedTokens);

        var e = Assert.Throws<ArgumentException>(() => PerplexityEvaluator.Evaluate(_model, PositionLogits.Prompt(15), new PerplexityOptions(16)));
        Assert.Equal("tokens", e.ParamName);
        Assert.Contains("the text has 15 tokens, fewer than one window of options.SeqLen 16", e.Message, StringComparison.Ordinal);
    }

    /// <summary>LimitChunks caps the windows: above the windows the text has it evaluates them all, the same sums.</summary>
    [Fact]
    public void A_chunk_limit_above_the_windows_there_are_evaluates_them_all()
    {
        int[] tokens = PositionLogits.Prompt(100);
        PerplexityResult all = PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(32));
        PerplexityResult limited = PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(32) { LimitChunks = 10 });
        PerplexityResult two = PerplexityEvaluator.Evaluate(_model, tokens, new PerplexityOptions(32) { LimitChunks = 2 });
        Assert.Equal(3, all.Chunks);
        Assert.Equal(3, limited.Chunks);
        Assert.Equal(all.PredictedTokens, limited.PredictedTokens);
        Assert.Equal(all.MeanNll, limited.MeanNll);
        Assert.Equal(2, two.Chunks);
        Assert.Equal(62, two.PredictedTokens);
    }
}
