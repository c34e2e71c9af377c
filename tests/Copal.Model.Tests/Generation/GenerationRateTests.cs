using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// What <see cref="GenerationResult.DecodeTokensPerSecond"/> counts: the forward passes after the prefill, each one
/// token chosen, over the time they took; and which phase a JIT compilation is counted in. The passes are counted by
/// the backend's embedding lookups (one per forward pass) and the rate is checked by arithmetic on the result, never
/// against a clock; compilation time is a counter of the test's own that each pass advances.
/// </summary>
public sealed class GenerationRateTests : IDisposable
{
    // Greedy from BOS (../shared/data/README.md): 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, ...
    private const int FifteenthToken = 426;

    private readonly EmbeddingCountingBackend _backend = new(1);
    private readonly LlamaModel _model;

    public GenerationRateTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }

    [Fact]
    public void A_run_that_meets_its_stop_token_counts_the_step_that_chose_it()
    {
        _backend.Reset();
        GenerationResult r = new Generator(_model).Generate([1], 100, SamplingOptions.Greedy, new HashSet<int> { FifteenthToken });
        Assert.Equal(StopReason.EndOfSequence, r.StopReason);
        Assert.Equal(14, r.GeneratedIds.Count);
        // The prefill of BOS, then a pass for each of the 14 tokens: the 14th chose the stop token.
        int decodePasses = _backend.Rows.Count - 1;
        Assert.Equal(14, decodePasses);
        Assert.Equal(decodePasses, r.DecodeTokensPerSecond!.Value * r.DecodeTime.TotalSeconds, 9);
    }

    [Fact]
    public void A_run_that_reaches_its_token_limit_counts_each_pass_after_the_prefill()
    {
        _backend.Reset();
        GenerationResult r = new Generator(_model).Generate([1], 10, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(StopReason.MaxTokens, r.StopReason);
        // The tenth token comes from the ninth pass and needs none of its own.
        int decodePasses = _backend.Rows.Count - 1;
        Assert.Equal(9, decodePasses);
        Assert.Equal(decodePasses, r.DecodeTokensPerSecond!.Value * r.DecodeTime.TotalSeconds, 9);
    }

    [Fact]
    public void Compilation_is_counted_in_the_phase_whose_clock_it_ran_under()
    {
        // Each forward pass "compiles" for a second, and each token handed to the caller for ten: the first token's
        // callback runs after the prefill's clock stopped, so its compilation is the decode's.
        TimeSpan compiled = TimeSpan.Zero;
        _backend.OnEmbedding = _ => compiled += TimeSpan.FromSeconds(1);
        try
        {
            var generator = new Generator(_model) { CompilationTime = () => compiled };
            GenerationResult r = generator.Generate([1], 5, SamplingOptions.Greedy, new HashSet<int>(), _ => compiled += TimeSpan.FromSeconds(10));
            Assert.Equal(5, r.GeneratedIds.Count);
            Assert.Equal(TimeSpan.FromSeconds(1), r.PrefillJitTime);
            Assert.Equal(TimeSpan.FromSeconds(4 + 50), r.DecodeJitTime);
        }
        finally
        {
            _backend.OnEmbedding = null;
        }
    }

    [Fact]
    public void A_first_token_that_is_the_stop_token_leaves_no_decode_rate()
    {
        _backend.Reset();
        GenerationResult r = new Generator(_model).Generate([1], 10, SamplingOptions.Greedy, new HashSet<int> { 403 });
        Assert.Empty(r.GeneratedIds);
        Assert.Single(_backend.Rows);
        Assert.Null(r.DecodeTokensPerSecond);
    }

    [Fact]
    public void A_stop_token_chosen_by_the_first_decode_pass_gives_a_rate_of_that_pass()
    {
        _backend.Reset();
        GenerationResult r = new Generator(_model).Generate([1], 10, SamplingOptions.Greedy, new HashSet<int> { 407 });
        Assert.Equal([403], r.GeneratedIds);
        Assert.Equal(1, _backend.Rows.Count - 1);
        Assert.Equal(1, r.DecodeTokensPerSecond!.Value * r.DecodeTime.TotalSeconds, 9);
    }
}
