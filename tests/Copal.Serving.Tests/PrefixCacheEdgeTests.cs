using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// The prefix cache (<see cref="EngineOptions.PrefixCache"/>) where its claim is easiest to break: jobs of other kinds
/// between turns (a scored prompt, per-job sampler state), choices that copy a twin's cache, concurrent conversations,
/// a wider sliding window, and the GPU kernels on ilgpu-cpu. Each reply must match a fresh engine's to the bit.
/// </summary>
public sealed class PrefixCacheEdgeTests : IDisposable
{
    // The engine's prefill chunk.
    private const int Chunk = BatchScheduler.PrefillRows;

    private readonly TempDir _root = new("copal-prefix-edge-");

    public void Dispose() => _root.Dispose();

    private static int[] Prompt(int length, int seed) => ReplyBits.Prompt(length, seed);

    /// <summary>Sampled at temperature 1 with penalties, a logit bias and log-probabilities: per-job sampler state that a slot must not carry over.</summary>
    private static CompletionRequest Request(int[] ids, int maxTokens = 6, ulong seed = 11) => new()
    {
        PromptIds = ids,
        MaxTokens = maxTokens,
        Temperature = 1f,
        Seed = seed,
        TopLogprobs = 3,
        PresencePenalty = 0.5f,
        FrequencyPenalty = 0.3f,
        RepetitionPenalty = 1.2f,
        LogitBias = new Dictionary<int, float> { [5] = 3f, [6] = -100f },
    };

    private static string Bits(CompletionResult r) => ReplyBits.Of(r);

    private static async Task<string> FreshBits(LlamaModel model, CopalTokenizer tokenizer, CompletionRequest request)
    {
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { PrefixCache = false, Parallel = 1 });
        return Bits(await engine.CompleteAsync(request));
    }

    /// <summary>
    /// A scored prompt reuses no cache (it runs whole, for every row's logits), so it does not take the slot whose kept
    /// cache holds its beginning while another is free: its state would replace that cache, and the conversation's next
    /// turn would run its whole prompt again.
    /// </summary>
    [Fact]
    public async Task A_scored_prompt_leaves_the_cache_that_holds_its_beginning_to_the_next_turn()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 2, PrefixCache = true });
        int[] prompt = Prompt(Chunk + 20, seed: 4);
        CompletionResult first = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1 });
        CompletionResult scored = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1, ScorePrompt = true, TopLogprobs = 1 });
        Assert.Equal(0, scored.Usage.CachedPromptTokens);
        CompletionResult again = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1 });
        Assert.Equal(Chunk, again.Usage.CachedPromptTokens);
        Assert.Equal(first.TokenIds, again.TokenIds);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public async Task Turns_with_a_scored_prompt_between_them_match_a_fresh_engine_to_the_bit(string device)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        EngineStatistics stats = engine.Statistics;

        int[] first = Prompt(300, seed: 1);
        CompletionResult firstReply = await engine.CompleteAsync(Request(first));
        int[] next = [.. first, .. firstReply.TokenIds, .. Prompt(20, seed: 2)];
        CompletionRequest nextRequest = Request(next, seed: 12);
        CompletionResult nextReply = await engine.CompleteAsync(nextRequest);
        Assert.Equal(2 * Chunk, nextReply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, nextRequest), Bits(nextReply));

        // A scored prompt of the same beginning runs whole (every row's logits) in a state of its own kind.
        CompletionResult scored = await engine.CompleteAsync(new CompletionRequest { PromptIds = next, MaxTokens = 0, ScorePrompt = true, TopLogprobs = 1 });
        Assert.Equal(0, scored.Usage!.CachedPromptTokens);

        // The turn after: the scoring state replaced the kept one, so nothing is reused and the reply is still a fresh one's.
        int[] third = [.. next, .. nextReply.TokenIds, .. Prompt(10, seed: 3)];
        CompletionRequest thirdRequest = Request(third, seed: 13);
        CompletionResult thirdReply = await engine.CompleteAsync(thirdRequest);
        Assert.Equal(0, thirdReply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, thirdRequest), Bits(thirdReply));

        // And the one after that reuses the third prompt's chunks.
        int[] fourth = [.. third, .. thirdReply.TokenIds, 7];
        CompletionRequest fourthRequest = Request(fourth, seed: 14);
        CompletionResult fourthReply = await engine.CompleteAsync(fourthRequest);
        Assert.Equal(third.Length / Chunk * Chunk, fourthReply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, fourthRequest), Bits(fourthReply));
    }

    /// <summary>
    /// A shorter prompt of the same beginning reuses a cache that grew for a longer one (512 positions), where a fresh
    /// engine's prefill runs in its first reservation (256): the kernels read the same keys either way.
    /// </summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public async Task A_cache_grown_by_a_longer_prompt_serves_a_shorter_one_to_the_bit(string device)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        int[] prompt = Prompt(400, seed: 6);
        await engine.CompleteAsync(Request(prompt, maxTokens: 20));
        long grown = engine.KvCacheBytes;
        CompletionRequest shorter = Request(prompt[..200], seed: 8);
        CompletionResult reply = await engine.CompleteAsync(shorter);
        Assert.Equal(Chunk, reply.Usage!.CachedPromptTokens);
        Assert.Equal(grown, engine.KvCacheBytes);
        Assert.Equal(await FreshBits(model, tokenizer, shorter), Bits(reply));
    }

    /// <summary>
    /// Three conversations at once on three slots, twice, then two requests of one prompt admitted together (a twin's
    /// cache copied after a reuse). A batch row's sums depend on the batch, so the replies are compared with the same
    /// requests on an engine without the prefix cache, admitted in the same rounds: the same to the bit.
    /// </summary>
    [Fact]
    public async Task Concurrent_conversations_and_twins_after_a_reuse_match_an_engine_without_the_cache_to_the_bit()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        (string[] with, int[] cached, long copied) = await Conversations(model, tokenizer, prefixCache: true);
        (string[] without, _, _) = await Conversations(model, tokenizer, prefixCache: false);
        // The twin that copied the turn's prefill ran none of its prompt: the only copy, of the whole turn.
        Assert.Equal([0, 0, 0, 256, 128, 256, 256, (int)copied], cached);
        Assert.True(copied > 256);
        Assert.Equal(without, with);
    }

    private static async Task<(string[] Bits, int[] Cached, long Copied)> Conversations(LlamaModel model, CopalTokenizer tokenizer, bool prefixCache)
    {
        int expected = 0;
        EngineStatistics? statistics = null;
        var options = new EngineOptions
        {
            Parallel = 3,
            PrefixCache = prefixCache,
            // Hold the admission until every request of a round is queued, so they are admitted together.
            BeforeAdmission = () =>
            {
                if (!SpinWait.SpinUntil(() => statistics?.Started >= Volatile.Read(ref expected), TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("requests were not queued");
                }
            },
        };
        using var engine = new InferenceEngine(model, tokenizer, options);
        statistics = engine.Statistics;

        int[][] prompts = [Prompt(260, 1), Prompt(140, 2), Prompt(300, 3)];
        Volatile.Write(ref expected, 3);
        CompletionResult[] firsts = await Task.WhenAll(prompts.Select((p, i) => engine.CompleteAsync(Request(p, seed: (ulong)i))));

        CompletionRequest[] nexts = [.. prompts.Select((p, i) => Request([.. p, .. firsts[i].TokenIds, .. Prompt(9, 10 + i)], seed: (ulong)(20 + i)))];
        Volatile.Write(ref expected, 6);
        CompletionResult[] replies = await Task.WhenAll(nexts.Select(r => engine.CompleteAsync(r)));

        // Two requests of one prompt, the first conversation's next turn, admitted together: one reuses, the other copies.
        int[] turn = [.. nexts[0].PromptIds!, .. replies[0].TokenIds, 9];
        Volatile.Write(ref expected, 8);
        CompletionResult[] twins = await Task.WhenAll(engine.CompleteAsync(Request(turn, seed: 40)), engine.CompleteAsync(Request(turn, seed: 41)));
        CompletionResult[] all = [.. firsts, .. replies, .. twins];
        return ([.. all.Select(Bits)], [.. all.Select(r => r.Usage!.CachedPromptTokens)], statistics.SharedPromptTokens);
    }

    /// <summary>
    /// A slot whose cache was copied from a twin (two requests of one prompt admitted together) keeps that prompt's
    /// chunks: the next turn that comes to it reuses them, and its reply is a fresh engine's to the bit.
    /// </summary>
    [Fact]
    public async Task A_cache_copied_from_a_twin_serves_the_next_turn_to_the_bit()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        int expected = 2;
        EngineStatistics? statistics = null;
        var options = new EngineOptions
        {
            Parallel = 2,
            BeforeAdmission = () =>
            {
                if (!SpinWait.SpinUntil(() => statistics?.Started >= Volatile.Read(ref expected), TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("requests were not queued");
                }
            },
        };
        using var engine = new InferenceEngine(model, tokenizer, options);
        statistics = engine.Statistics;
        int[] prompt = Prompt(270, seed: 7);
        CompletionResult[] twins = await Task.WhenAll(engine.CompleteAsync(Request(prompt, seed: 1)), engine.CompleteAsync(Request(prompt, seed: 2)));
        Assert.Equal(prompt.Length, statistics.SharedPromptTokens);
        // Another conversation takes the slot used longest ago: the one that ran the prompt, not the copy.
        Volatile.Write(ref expected, 3);
        await engine.CompleteAsync(Request(Prompt(200, seed: 8)));
        // The second twin's next turn finds the copied cache.
        Volatile.Write(ref expected, 4);
        CompletionRequest next = Request([.. prompt, .. twins[1].TokenIds, .. Prompt(5, seed: 9)], seed: 3);
        CompletionResult reply = await engine.CompleteAsync(next);
        Assert.Equal(2 * Chunk, reply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, next), Bits(reply));
    }

    /// <summary>
    /// A context under one prefill chunk makes the chunk that long: no prompt leaves room for a whole one and a token,
    /// so nothing is reused; a context of 200 reuses one chunk of 128. Both replies are a fresh engine's.
    /// </summary>
    [Theory]
    [InlineData(100, 90, 95, 0)]
    [InlineData(200, 150, 190, 128)]
    public async Task A_small_context_reuses_only_whole_chunks_to_the_bit(int context, int first, int second, int cached)
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, ContextSize = context });
        int[] prompt = Prompt(second, seed: 4);
        await engine.CompleteAsync(Request(prompt[..first], maxTokens: 3));
        CompletionRequest next = Request(prompt, maxTokens: 3, seed: 5);
        CompletionResult reply = await engine.CompleteAsync(next);
        Assert.Equal(cached, reply.Usage!.CachedPromptTokens);
        using var fresh = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, ContextSize = context, PrefixCache = false });
        Assert.Equal(Bits(await fresh.CompleteAsync(next)), Bits(reply));
    }

    /// <summary>
    /// A request cancelled in its prefill has written some of its own chunks over the kept ones: the slot keeps
    /// nothing, and the earlier conversation's next turn runs whole, the same to the bit as a fresh engine's.
    /// </summary>
    [Fact]
    public async Task A_prefill_cancelled_over_a_kept_cache_leaves_nothing_to_reuse()
    {
        using var device = new CancellingDevice();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        int[] a = Prompt(300, seed: 1);
        CompletionResult aReply = await engine.CompleteAsync(Request(a));
        // Another prompt that shares a's first 200 tokens reuses one chunk, runs its own chunks 128..255 and 256..383
        // over a's (cancelled while it embeds the second), and stops before its last 16 tokens.
        int[] b = [.. a[..200], .. Prompt(200, seed: 2)];
        using var cancel = new CancellationTokenSource();
        device.CancelAtChunk(2, cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.CompleteAsync(Request(b), cancel.Token));
        CompletionRequest next = Request([.. a, .. aReply.TokenIds, 7], seed: 3);
        CompletionResult reply = await engine.CompleteAsync(next);
        Assert.Equal(0, reply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, next), Bits(reply));
    }

    /// <summary>
    /// A request cancelled while it waits to be admitted is dropped at its admission, before it takes a slot: it runs
    /// none of its prompt, and the only slot keeps the chunks of the conversation before it for that one's next turn
    /// (taking the slot had emptied its kept cache, so the next turn ran its whole prompt again).
    /// </summary>
    [Fact]
    public async Task A_request_cancelled_before_its_admission_leaves_the_kept_cache_to_the_next_turn()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using var admissions = new ManualResetEventSlim(initialState: true);
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            Parallel = 1,
            PrefixCache = true,
            // Closed while the request to cancel is queued: the scheduler reads it only once it is cancelled. No time
            // limit: one let the request in, and run, when the test was slower than it to cancel (a loaded machine).
            BeforeAdmission = () => admissions.Wait(),
        });
        EngineStatistics stats = engine.Statistics;
        int[] prompt = Prompt(Chunk + 20, seed: 4);
        CompletionResult first = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1 });

        admissions.Reset();
        try
        {
            using var cancel = new CancellationTokenSource();
            Task<CompletionResult> waiting = engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(Chunk + 20, seed: 5), MaxTokens = 1 }, cancel.Token);
            Assert.True(SpinWait.SpinUntil(() => stats.Started == 2, TimeSpan.FromMinutes(1)), "the request was not queued");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }
        finally
        {
            admissions.Set(); // also after a failed assertion: the engine is disposed only once its scheduler is free
        }
        Assert.True(SpinWait.SpinUntil(() => stats.Cancelled == 1, TimeSpan.FromMinutes(1)), "the cancelled request was not dropped");

        CompletionResult again = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1 });
        Assert.Equal(Chunk, again.Usage!.CachedPromptTokens);
        Assert.Equal(first.TokenIds, again.TokenIds);
        // The first turn's whole prompt and the second's last 20 tokens; nothing of the cancelled one.
        Assert.Equal(prompt.Length + 20L, stats.PromptTokens);
        Assert.Equal(2L, stats.Completed);
    }

    /// <summary>
    /// A request that reuses no cache takes a free slot that keeps nothing before the one keeping a conversation's
    /// prefix, even where that slot's last job came earlier: taking it would empty the kept cache for nothing.
    /// </summary>
    [Fact]
    public async Task A_request_that_reuses_nothing_takes_a_slot_that_keeps_nothing_before_a_kept_prefix()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 2, PrefixCache = true });
        int[] conversation = Prompt(Chunk + 20, seed: 6);
        CompletionResult first = await engine.CompleteAsync(new CompletionRequest { PromptIds = conversation, MaxTokens = 1 });
        // Two short requests, one after the other: shorter than a chunk, their slot keeps nothing. The first makes the
        // second slot; the second finds the conversation's slot used longest ago, and must still take the other.
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(20, seed: 7), MaxTokens = 1 });
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(20, seed: 8), MaxTokens = 1 });
        CompletionResult again = await engine.CompleteAsync(new CompletionRequest { PromptIds = conversation, MaxTokens = 1 });
        Assert.Equal(Chunk, again.Usage!.CachedPromptTokens);
        Assert.Equal(first.TokenIds, again.TokenIds);
    }

    /// <summary>The CPU backend, cancelling a token when it embeds the n-th whole prefill chunk after being told to.</summary>
    private sealed class CancellingDevice : Copal.Tensors.Backends.Cpu.CpuBackend, IBackend
    {
        private int _chunksLeft;
        private CancellationTokenSource? _cancel;

        public void CancelAtChunk(int chunk, CancellationTokenSource cancel) => (_chunksLeft, _cancel) = (chunk, cancel);

        void IBackend.Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output)
        {
            if (tokens.Length == Chunk && _cancel is not null && --_chunksLeft == 0)
            {
                _cancel.Cancel();
            }
            Embedding(table, tokens, output);
        }
    }

    /// <summary>
    /// Two requests of one prompt admitted together: the second copies the first's prefill and runs none of its prompt,
    /// so its usage counts the whole prompt as cached (it said 0, as if it had run it all).
    /// </summary>
    [Fact]
    public async Task A_request_that_copies_a_twins_prefill_counts_its_whole_prompt_as_cached()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        EngineStatistics? statistics = null;
        var options = new EngineOptions
        {
            Parallel = 2,
            BeforeAdmission = () =>
            {
                if (!SpinWait.SpinUntil(() => statistics?.Started >= 2, TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("requests were not queued");
                }
            },
        };
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), options);
        statistics = engine.Statistics;
        int[] prompt = Prompt(300, seed: 1);
        CompletionResult[] both = await Task.WhenAll(engine.CompleteAsync(Request(prompt, seed: 1)), engine.CompleteAsync(Request(prompt, seed: 2)));
        Assert.Equal(300L, statistics.SharedPromptTokens);
        Assert.Equal([0, 300], both.Select(r => r.Usage!.CachedPromptTokens).Order());
        Assert.Equal(0L, statistics.CachedPromptTokens);
    }

    /// <summary>JSON mode's automaton and stop texts are the request's own: a reused turn in JSON mode is a fresh engine's to the bit.</summary>
    [Fact]
    public async Task A_json_mode_turn_with_stop_texts_after_a_reuse_is_a_fresh_engines()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        int[] prompt = Prompt(280, seed: 3);
        await engine.CompleteAsync(Request(prompt) with { ResponseFormat = ResponseFormat.JsonObject, Stop = ["\""] });
        CompletionRequest next = Request([.. prompt, .. Prompt(20, seed: 4)], maxTokens: 12, seed: 5) with { ResponseFormat = ResponseFormat.JsonObject, Stop = ["}"] };
        CompletionResult reply = await engine.CompleteAsync(next);
        Assert.Equal(2 * Chunk, reply.Usage!.CachedPromptTokens);
        Assert.StartsWith("{", reply.Text, StringComparison.Ordinal);
        Assert.Equal(await FreshBits(model, tokenizer, next), Bits(reply));
    }

    /// <summary>
    /// What docs/serving.md says of memory: a cache that keeps a prefix does not shrink (it stays as long as the longest
    /// request since it was given back), and a request that keeps nothing gives a grown cache back when it ends.
    /// </summary>
    [Fact]
    public async Task A_kept_cache_stays_as_long_as_the_longest_request_until_one_keeps_nothing()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions { Parallel = 1 });
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(100, 1), MaxTokens = 1 });
        long first = engine.KvCacheBytes; // the slot's first reservation, 256 positions
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(300, 2), MaxTokens = 1 });
        long grown = engine.KvCacheBytes;
        Assert.True(grown > first);
        // Another conversation of 150 tokens keeps its first chunk: the grown cache stays.
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(150, 3), MaxTokens = 1 });
        Assert.Equal(grown, engine.KvCacheBytes);
        // One under a chunk keeps nothing: the grown cache goes when it ends.
        await engine.CompleteAsync(new CompletionRequest { PromptIds = Prompt(50, 4), MaxTokens = 1 });
        Assert.True(engine.KvCacheBytes < grown);
    }

    /// <summary>A window of 40 keys (stories260K as a Mistral): more keys than one score step, a cache that slides mid-prompt.</summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public async Task A_wider_sliding_window_reuses_to_the_bit(string device)
    {
        string dir = TestData.CopyOfStories260K(_root.File("windowed40-" + device));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["architectures"] = new System.Text.Json.Nodes.JsonArray("MistralForCausalLM");
        config["model_type"] = "mistral";
        config["sliding_window"] = 40;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(dir, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(dir);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });

        int[] prompt = Prompt(420, seed: 5);
        CompletionResult reply = await engine.CompleteAsync(Request(prompt, maxTokens: 4));
        int[] next = [.. prompt, .. reply.TokenIds, .. Prompt(11, seed: 6)];
        CompletionRequest nextRequest = Request(next, seed: 9);
        CompletionResult nextReply = await engine.CompleteAsync(nextRequest);
        // 420 prompt tokens and 4 decoded: the cache slid to position 217 and still holds the 39 keys before 384.
        Assert.Equal(3 * Chunk, nextReply.Usage!.CachedPromptTokens);
        Assert.Equal(await FreshBits(model, tokenizer, nextRequest), Bits(nextReply));
    }
}
