using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A sampled draw ranks the vocabulary in two buffers of its size (probabilities and order). Each request's sampler
/// made its own on its first draw, so every sampled request left 8 bytes per token of the vocabulary to the collector
/// (1.2 MB on a 152k vocabulary, on the large-object heap, whose collections are full ones); a slot's samplers now
/// take over the buffers of its previous one, and a sampled request allocates on the decoding thread what a greedy one does.
/// </summary>
public sealed class SlotSamplerMemoryTests
{
    private const int Requests = 12;

    [Fact]
    public async Task A_sampled_request_allocates_on_the_decoding_thread_what_a_greedy_one_does()
    {
        long greedy = await DecodingThreadBytesPerRequest(temperature: 0f);
        long sampled = await DecodingThreadBytesPerRequest(temperature: 1f);
        // Stories260K's two buffers are 512 floats and 512 ints: 4 KiB a request.
        Assert.InRange(sampled - greedy, long.MinValue, 1024);
    }

    // What the decoding thread allocates per request, over requests one after another on one slot: each runs one
    // decode step (max_tokens 2), whose hook reads the thread's count.
    private static async Task<long> DecodingThreadBytesPerRequest(float temperature)
    {
        using var backend = new CpuBackend();
        var counts = new List<long>();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            Parallel = 1,
            BeforeDecodeStep = () => counts.Add(GC.GetAllocatedBytesForCurrentThread()),
        });
        for (int i = 0; i < Requests; i++)
        {
            CompletionResult r = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 2, Temperature = temperature, Seed = 7 });
            Assert.Equal(2, r.TokenIds.Count);
        }
        Assert.Equal(Requests, counts.Count);
        // From the second request's step: the first builds what a slot builds once.
        return (counts[^1] - counts[1]) / (Requests - 2);
    }
}
