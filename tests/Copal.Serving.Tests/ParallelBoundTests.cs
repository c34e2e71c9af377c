using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// <see cref="EngineOptions.Parallel"/> is a bound, not a reservation: the slots are made as requests arrive, so a
/// bound far above what the host could hold costs nothing until the requests come.
/// </summary>
public sealed class ParallelBoundTests
{
    /// <summary>
    /// An engine sized its slot table by the bound: int.MaxValue slots failed at start with an out-of-memory that
    /// named no option (and 2,000,000,000 made each admission and decode step walk 2e9 entries).
    /// </summary>
    [Fact]
    public async Task A_parallel_bound_far_above_the_work_makes_only_the_slots_the_requests_use()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var one = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        using var unbounded = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = int.MaxValue });
        var request = new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 8 };
        CompletionResult alone = await one.CompleteAsync(request);
        CompletionResult[] together = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => unbounded.CompleteAsync(request)));
        Assert.All(together, r => Assert.Equal(alone.TokenIds, r.TokenIds));
        // Each request's slot holds a cache as the one engine's slot does, and no other slot holds one.
        Assert.InRange(unbounded.KvCacheBytes, one.KvCacheBytes, 3 * one.KvCacheBytes);
    }
}
