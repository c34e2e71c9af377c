using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A slot's KV cache grows with its request, and no further than the request can reach: its prompt plus max_tokens
/// (the context where that is less). The cache doubles as it grows, so a long run grows it a few times only; a
/// doubling past what the request can hold would be memory no token ever uses, kept idle with the prefix cache.
/// </summary>
public sealed class KvCacheGrowthTests
{
    private static long Bytes(LlamaConfig c, int positions) => 2L * c.NumLayers * positions * c.KvDim * sizeof(float);

    // The end-of-sequence token banned, so each reply runs to its max_tokens.
    private static CompletionRequest Request(int promptLength, int maxTokens) => new()
    {
        PromptIds = ReplyBits.Prompt(promptLength, 1),
        MaxTokens = maxTokens,
        LogitBias = new Dictionary<int, float> { [2] = -100f },
    };

    /// <summary>
    /// stories260K's slot reserves 256 positions. A 300-token prompt with max_tokens 4 grew it, at its prefill, to 512
    /// (twice the reservation); a 130-token prompt with max_tokens 200 grew it at decode step 127 to 512 as well.
    /// Each request can reach 304 and 330 positions; each prompt holds a whole chunk, so the prefix cache keeps it.
    /// </summary>
    [Theory]
    [InlineData(300, 4)]
    [InlineData(130, 200)]
    public async Task A_slots_cache_grows_no_further_than_its_request_can_reach(int promptLength, int maxTokens)
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1, PrefixCache = true });
        CompletionResult reply = await engine.CompleteAsync(Request(promptLength, maxTokens));
        Assert.Equal(maxTokens, reply.TokenIds.Count);
        long reachable = Bytes(engine.Model.Config, promptLength + maxTokens);
        Assert.Equal(reachable, engine.Statistics.PeakKvCacheBytes);
        // The prefix cache keeps it as it was.
        Assert.Equal(reachable, engine.KvCacheBytes);
    }

    /// <summary>
    /// A short request's cache holds the positions it can reach, not the slot's first reservation of 256: a 10-token
    /// prompt with max_tokens 5 held 256 positions (64 MiB a slot at Llama-3-8B's shapes, for 15 positions' 3.75 MiB).
    /// Once it ends, a slot that keeps no prefix (the prefix cache off, or a prompt shorter than a prefill chunk)
    /// gives the cache back: an idle slot's cache would serve no later request, and what the server holds follows
    /// the requests in flight.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_short_requests_cache_holds_what_it_can_reach_and_goes_back_when_it_ends(bool prefixCache)
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1, PrefixCache = prefixCache });
        CompletionResult reply = await engine.CompleteAsync(Request(10, 5));
        Assert.Equal(5, reply.TokenIds.Count);
        Assert.Equal(Bytes(engine.Model.Config, 15), engine.Statistics.PeakKvCacheBytes);
        Assert.Equal(0, engine.KvCacheBytes);
    }

    /// <summary>A request with no bound short of the context grows its cache by doubling, to the context at most.</summary>
    [Fact]
    public async Task A_request_bounded_by_the_context_only_grows_by_doubling()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1, PrefixCache = true, ContextSize = 400 });
        CompletionResult reply = await engine.CompleteAsync(Request(300, 1000));
        Assert.Equal(100, reply.TokenIds.Count); // the context ends it
        Assert.Equal(Bytes(engine.Model.Config, 400), engine.KvCacheBytes);
    }

    /// <summary>The next request on a slot grows it again to what that request can reach; a kept cache does not shrink.</summary>
    [Fact]
    public async Task The_next_request_grows_a_kept_cache_to_what_it_can_reach()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1, PrefixCache = true });
        await engine.CompleteAsync(Request(300, 4));
        await engine.CompleteAsync(Request(330, 20));
        Assert.Equal(Bytes(engine.Model.Config, 350), engine.KvCacheBytes);
        await engine.CompleteAsync(Request(200, 4));
        Assert.Equal(Bytes(engine.Model.Config, 350), engine.KvCacheBytes);
    }
}
