using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// The prefix cache (<see cref="EngineOptions.PrefixCache"/>): a prompt that begins as an earlier one runs only what
/// follows the earlier prompt's whole prefill chunks, and its reply is the same to the bit as a fresh engine's.
/// </summary>
public sealed class PrefixCacheTests : IDisposable
{
    // The engine's prefill chunk.
    private const int Chunk = BatchScheduler.PrefillRows;

    private readonly TempDir _root = new("copal-prefix-");

    public void Dispose() => _root.Dispose();

    /// <summary>A prompt of <paramref name="length"/> ids that no other seed's begins with.</summary>
    private static int[] Prompt(int length, int seed) => ReplyBits.Prompt(length, seed);

    private static int[] Extend(int[] prompt, CompletionResult reply, int more, int seed) => [.. prompt, .. reply.TokenIds, .. Prompt(more, seed)];

    /// <summary>Sampled at temperature 1 with every chosen token's log-probabilities: a logit off by one bit would show.</summary>
    private static CompletionRequest Request(int[] ids, int maxTokens = 6) => new() { PromptIds = ids, MaxTokens = maxTokens, Temperature = 1f, Seed = 11, TopLogprobs = 3 };

    /// <summary>The reply's ids and every log-probability it carries, bit for bit.</summary>
    private static string Bits(CompletionResult r) => ReplyBits.Of(r);

    private static async Task<CompletionResult> Fresh(LlamaModel model, CopalTokenizer tokenizer, int[] ids)
    {
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { PrefixCache = false });
        return await engine.CompleteAsync(Request(ids));
    }

    [Fact]
    public async Task A_prompt_that_begins_as_an_earlier_one_runs_only_what_follows_its_whole_chunks()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        EngineStatistics stats = engine.Statistics;

        int[] first = Prompt(300, seed: 1);
        CompletionResult firstReply = await engine.CompleteAsync(Request(first));
        Assert.Equal((300L, 0L), (stats.PromptTokens, stats.CachedPromptTokens));

        // The next turn: the first prompt, its reply and more. Two whole chunks (256 tokens) were prefilled; the
        // first prompt's last 44 tokens ran in a chunk of their own and the reply in decode steps, so they run again.
        int[] next = Extend(first, firstReply, 40, seed: 2);
        CompletionResult nextReply = await engine.CompleteAsync(Request(next));
        Assert.Equal((300L + next.Length - 256, 256L), (stats.PromptTokens, stats.CachedPromptTokens));
        Assert.Equal((0, 256), (firstReply.Usage!.CachedPromptTokens, nextReply.Usage!.CachedPromptTokens));
        Assert.Equal(next.Length, nextReply.Usage.PromptTokens);
        Assert.Equal(Bits(await Fresh(model, tokenizer, next)), Bits(nextReply));

        // The same prompt again: its own two chunks are held; the third is run for the first token's logits.
        CompletionResult again = await engine.CompleteAsync(Request(next));
        Assert.Equal(512L, stats.CachedPromptTokens);
        Assert.Equal(Bits(nextReply), Bits(again));

        // Exactly two chunks long: one is reused, the other runs, since the last token must run for the logits.
        int[] twoChunks = next[..(2 * Chunk)];
        CompletionResult shorter = await engine.CompleteAsync(Request(twoChunks));
        Assert.Equal(512L + Chunk, stats.CachedPromptTokens);
        Assert.Equal(Chunk, shorter.Usage!.CachedPromptTokens);
        Assert.Equal(Bits(await Fresh(model, tokenizer, twoChunks)), Bits(shorter));

        // Another beginning: nothing is reused.
        long before = stats.CachedPromptTokens;
        await engine.CompleteAsync(Request(Prompt(200, seed: 3)));
        Assert.Equal(before, stats.CachedPromptTokens);
    }

    [Fact]
    public async Task Each_conversation_returns_to_the_slot_that_holds_it_and_the_oldest_cache_makes_room()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 2 });
        EngineStatistics stats = engine.Statistics;
        int[] a = Prompt(200, seed: 1), b = Prompt(200, seed: 2), c = Prompt(200, seed: 3);

        await engine.CompleteAsync(Request(a));
        await engine.CompleteAsync(Request(b));
        await engine.CompleteAsync(Request([.. a, 7]));
        await engine.CompleteAsync(Request([.. b, 7]));
        Assert.Equal(2L * Chunk, stats.CachedPromptTokens);

        // A third conversation takes the slot used longest ago (a's), and b's cache stays for its next turn.
        await engine.CompleteAsync(Request(c));
        await engine.CompleteAsync(Request([.. b, 8]));
        Assert.Equal(3L * Chunk, stats.CachedPromptTokens);
        await engine.CompleteAsync(Request([.. a, 8]));
        Assert.Equal(3L * Chunk, stats.CachedPromptTokens);
    }

    [Fact]
    public async Task Without_the_prefix_cache_every_prompt_runs_whole()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions { PrefixCache = false });
        int[] prompt = Prompt(300, seed: 1);
        await engine.CompleteAsync(Request(prompt));
        await engine.CompleteAsync(Request(prompt));
        Assert.Equal((600L, 0L), (engine.Statistics.PromptTokens, engine.Statistics.CachedPromptTokens));
    }

    /// <summary>
    /// A sliding window of 4 on stories260K's weights: its caches drop the positions no window reaches, and a reuse
    /// goes back to a chunk whose window still finds its keys, or to none.
    /// </summary>
    [Fact]
    public async Task A_sliding_window_reuses_a_chunk_only_while_its_cache_holds_the_keys_before_it()
    {
        string dir = WindowedModel.CopyTo(_root.File("windowed"));
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(dir, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(dir);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        EngineStatistics stats = engine.Statistics;

        // 130 tokens and 6 more decoded stay within the cache (two windows and a chunk, 136 positions): the keys
        // before position 128 are still there.
        int[] shortPrompt = Prompt(130, seed: 1);
        CompletionResult shortReply = await engine.CompleteAsync(Request(shortPrompt));
        int[] shortNext = Extend(shortPrompt, shortReply, 5, seed: 2);
        CompletionResult shortNextReply = await engine.CompleteAsync(Request(shortNext));
        Assert.Equal(Chunk, stats.CachedPromptTokens);
        Assert.Equal(Bits(await Fresh(model, tokenizer, shortNext)), Bits(shortNextReply));

        // A prefill slides the cache to keep the window − 1 keys before each chunk, so after 380 tokens it holds
        // positions 253 to 379. Twelve decoded tokens pass its end (253 + 136) and slide it again, to 386: no whole
        // chunk's window finds its keys any more.
        int[] longPrompt = Prompt(380, seed: 3);
        CompletionResult longReply = await engine.CompleteAsync(Request(longPrompt, maxTokens: 12));
        Assert.Equal(12, longReply.TokenIds.Count);
        int[] longNext = Extend(longPrompt, longReply, 5, seed: 4);
        CompletionResult longNextReply = await engine.CompleteAsync(Request(longNext));
        Assert.Equal(Chunk, stats.CachedPromptTokens);
        Assert.Equal(Bits(await Fresh(model, tokenizer, longNext)), Bits(longNextReply));
    }
}
