using System.Diagnostics;
using Copal.Model.Chat;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace Copal.Serving.Tests;

/// <summary>
/// 16 concurrent streaming clients × 20 requests each against a server with 8 slots: every request completes with
/// the text it gets alone (greedy, fixed seed), no error, and memory stays bounded. Fixed work (320 requests of at
/// most 32 tokens), so it ends by itself. It runs alone: its memory bound reads the process's managed heap, which
/// other test classes running beside it fill and empty (once by 20 MB, failing a CI run).
/// </summary>
[Collection(LoadTestsCollection.Name)]
public sealed class LoadTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const int Clients = 16;
    private const int RequestsPerClient = 20;
    private const int MaxTokens = 32;

    private static readonly string[] s_openings =
    [
        "Once upon a time", "The little dog", "Lily and Tom", "One day", "The sun was", "Sam had a red ball", "Mom said",
        "There was a big tree", "The cat", "A bird sang", "Ben liked", "It was a rainy day", "The old man", "Anna found",
        "The boat", "In the garden",
    ];

    private readonly ServerFixture _server = new() { Parallel = 8 };

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task Sixteen_streaming_clients_get_the_one_at_a_time_text_with_bounded_memory()
    {
        var expected = new Dictionary<string, string>();
        foreach (string opening in s_openings)
        {
            expected[opening] = Reference.Chat(_server.Model, _server.Tokenizer, [new ChatTurn("user", opening)], MaxTokens);
        }
        // Warm up, then measure the growth of the managed heap and the process's memory over the whole load.
        await RunClientAsync(0, 1, expected);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long workingSetBefore = Process.GetCurrentProcess().WorkingSet64;
        long peakWorkingSet = workingSetBefore;
        using var sampler = new Timer(_ => peakWorkingSet = Math.Max(peakWorkingSet, Process.GetCurrentProcess().WorkingSet64), null, 0, 50);
        long startedBefore = _server.Engine.Statistics.Started;

        int[] done = await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(() => RunClientAsync(c, RequestsPerClient, expected))));

        Assert.All(done, d => Assert.Equal(RequestsPerClient, d));
        Assert.Equal(Clients * RequestsPerClient, _server.Engine.Statistics.Started - startedBefore);
        Assert.Equal(0, _server.Engine.Statistics.Cancelled);
        Assert.Equal(0, _server.Server.Errors);
        Assert.Equal(8, _server.Engine.Statistics.PeakBatch);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        // The engine holds 8 slots whatever the load: KV caches of at most 8 × the context.
        var c = _server.Model.Config;
        long kvBound = 8L * 2 * c.NumLayers * _server.Engine.ContextSize * c.KvDim * sizeof(float);
        Assert.InRange(_server.Engine.Statistics.PeakKvCacheBytes, 1, kvBound);
        Assert.InRange(_server.Engine.KvCacheBytes, 0, kvBound);
        // Nothing per request stays behind: the heap after 320 requests is within 16 MB of before.
        Assert.True(heapAfter - heapBefore <= 16L << 20,
            $"the managed heap grew from {heapBefore >> 10} KiB to {heapAfter >> 10} KiB over {Clients * RequestsPerClient} requests (bound 16 MiB)");
        output.WriteLine($"managed heap {heapBefore >> 10} KiB before, {heapAfter >> 10} KiB after; working set {workingSetBefore >> 20} MiB before, peak {peakWorkingSet >> 20} MiB; " +
            $"KV caches {_server.Engine.KvCacheBytes} bytes (bound {kvBound}); {_server.Engine.Statistics.Steps} steps, mean batch {(double)_server.Engine.Statistics.Rows / _server.Engine.Statistics.Steps:F2}");
    }

    private async Task<int> RunClientAsync(int client, int requests, Dictionary<string, string> expected)
    {
        ChatClient chat = _server.Client().GetChatClient("stories260K");
        for (int r = 0; r < requests; r++)
        {
            string opening = s_openings[(client + r) % s_openings.Length];
            var text = new System.Text.StringBuilder();
            ChatFinishReason? finish = null;
            await foreach (StreamingChatCompletionUpdate u in chat.CompleteChatStreamingAsync([new UserChatMessage(opening)],
                new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = MaxTokens, Seed = 1234 }))
            {
                foreach (ChatMessageContentPart part in u.ContentUpdate)
                {
                    text.Append(part.Text);
                }
                finish ??= u.FinishReason;
            }
            Assert.NotNull(finish);
            Assert.Equal(expected[opening], text.ToString());
        }
        return requests;
    }
}

/// <summary>Runs <see cref="LoadTests"/> with no other test class beside it (xunit runs such a collection alone).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadTestsCollection
{
    public const string Name = "load, alone";
}
