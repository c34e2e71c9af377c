using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A serve slot's activations follow the prompt chunks it runs. They were a whole prefill chunk's 128 rows of every
/// activation buffer from the slot's first request, and 128 rows × the vocabulary of logits for one that scored its
/// prompt, whatever its length: a 3-token prompt held 24.75 MiB at LLaMA-7B's shapes, 74 MiB more of a 152k vocabulary's
/// logits to score it. They now grow with the chunks (RunState.EnsureRows), and what a grown slot computes is what a
/// fresh one, <c>generate</c> and a state of 128 rows from the start (the previous sizing) compute.
/// </summary>
public sealed class SlotRowsTests
{
    private static long RowFloats(LlamaConfig c) => (3L * c.HiddenSize) + (2L * c.QDim) + (2L * c.KvDim) + (2L * c.IntermediateSize);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_short_prompts_slot_allocates_rows_for_its_prompt_not_a_whole_chunk(bool scores)
    {
        using var backend = new AllocationCountingBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions { Parallel = 1 });
        backend.Reset(); // the weights and the RoPE tables are loaded

        CompletionResult reply = await engine.CompleteAsync(new CompletionRequest
        {
            PromptIds = [1, 403, 407],
            MaxTokens = 2,
            TopLogprobs = scores ? 1 : null,
            ScorePrompt = scores,
        });
        Assert.Equal(2, reply.TokenIds.Count);
        Assert.Equal(scores, reply.PromptLogprobs is not null);

        // What the slot and the batch step allocated past the slot's KV cache (256 positions reserved): activations
        // and logits. Three rows of them, and the batch step's one, come to a few rows; a chunk's were 128.
        LlamaConfig c = model.Config;
        long floats = backend.Floats - (engine.Statistics.PeakKvCacheBytes / sizeof(float));
        long rowsWorth = RowFloats(c) + c.VocabSize;
        Assert.True(floats <= 8 * rowsWorth,
            $"{floats} floats past the KV cache: {floats / (double)rowsWorth:F1} rows of activations and logits, more than the prompt's and the decode step's");
    }

    /// <summary>
    /// A slot decodes in one row: the rows of its prompt's chunks (128 of a 300-token prompt, with a scoring job's
    /// 128 rows × the vocabulary of logits) go back after its prefill, not when the reply ends, and the idle slot holds
    /// none. The batch step's state holds its one row.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_decoding_slot_holds_one_row_and_an_idle_one_none(bool scores)
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        var during = new List<long>();
        InferenceEngine? engine = null;
        using (engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions
        {
            Parallel = 1,
            BeforeDecodeStep = () => during.Add(engine!.ActivationBytes),
        }))
        {
            CompletionResult reply = await engine.CompleteAsync(new CompletionRequest
            {
                PromptIds = ReplyBits.Prompt(300, seed: 3),
                MaxTokens = 4,
                TopLogprobs = scores ? 1 : null,
                ScorePrompt = scores,
                LogitBias = new Dictionary<int, float> { [2] = -100f }, // no end of sequence: four decode steps
            });
            Assert.Equal(4, reply.TokenIds.Count);

            LlamaConfig c = model.Config;
            long oneRow = (RowFloats(c) + c.VocabSize) * sizeof(float);
            Assert.Equal(3, during.Count);
            // The slot's row, and from the second step the batch step's (its first step makes it).
            Assert.Equal([oneRow, 2 * oneRow, 2 * oneRow], during);
            Assert.Equal(oneRow, engine.ActivationBytes); // the batch step's alone
        }
    }

    /// <summary>
    /// The batch step's state, grown when more sequences decode together than it holds rows for, takes twice the rows it
    /// held (at most --parallel), not just this step's: sequences join a running batch a few at a time, and every growth
    /// frees and allocates all its activations and rows × vocabulary logits. Two together, then three (four rows), then
    /// five (six, the parallel's cap). Mutation round 7's 32, growing to this step's rows alone, passed every serving test.
    /// </summary>
    [Fact]
    public async Task The_batch_steps_rows_double_as_more_sequences_decode_together_up_to_the_parallel()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        int expected = 0;
        EngineStatistics? statistics = null;
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions
        {
            Parallel = 6,
            // Hold the admission until every request of a round is queued, so they are admitted and decode together.
            BeforeAdmission = () =>
            {
                if (!SpinWait.SpinUntil(() => statistics?.Started >= Volatile.Read(ref expected), TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("requests were not queued");
                }
            },
        });
        statistics = engine.Statistics;
        LlamaConfig c = model.Config;
        long oneRow = (RowFloats(c) + c.VocabSize) * sizeof(float);
        async Task<long> Round(int requests)
        {
            int first = Volatile.Read(ref expected);
            Volatile.Write(ref expected, first + requests);
            CompletionResult[] replies = await Task.WhenAll(Enumerable.Range(first, requests).Select(i => engine.CompleteAsync(new CompletionRequest
            {
                PromptIds = ReplyBits.Prompt(5, seed: i),
                MaxTokens = 3,
                LogitBias = new Dictionary<int, float> { [2] = -100f }, // no end of sequence: every row decodes twice
            })));
            Assert.All(replies, r => Assert.Equal(3, r.TokenIds.Count));
            return engine.ActivationBytes; // the idle slots hold none: the batch step's rows
        }

        Assert.Equal(2 * oneRow, await Round(2));
        Assert.Equal(4 * oneRow, await Round(3));
        Assert.Equal(6 * oneRow, await Round(5));
    }

    /// <summary>
    /// A 3-token prompt, then a 300-token one (chunks of 128, 128 and 44 rows) in the same slot, scored or not: the
    /// reply and the prompt's log-probabilities are a fresh engine's to the bit, the greedy tokens are
    /// <c>generate</c>'s, and the prompt's log-probabilities are those of a state of a whole chunk's rows from the start.
    /// </summary>
    [Theory]
    [InlineData("cpu", false)]
    [InlineData("cpu", true)]
    [InlineData("ilgpu-cpu", false)]
    [InlineData("ilgpu-cpu", true)]
    public async Task A_long_prompt_after_a_short_one_in_a_slot_computes_what_a_fresh_slot_does(string device, bool scores)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        int[] longPrompt = ReplyBits.Prompt(300, seed: 4);
        CompletionRequest Request(int[] prompt) => new() { PromptIds = prompt, MaxTokens = 6, TopLogprobs = 2, ScorePrompt = scores };

        CompletionResult grown;
        using (var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 }))
        {
            await engine.CompleteAsync(Request([1, 403, 407]));
            grown = await engine.CompleteAsync(Request(longPrompt));
        }
        CompletionResult fresh;
        using (var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 }))
        {
            fresh = await engine.CompleteAsync(Request(longPrompt));
        }
        Assert.Equal(ReplyBits.Of(fresh), ReplyBits.Of(grown));
        Assert.Equal(6, grown.TokenIds.Count);
        Assert.Equal(Reference.Greedy(model, tokenizer, longPrompt, 6).Ids, grown.TokenIds);
        if (!scores)
        {
            return;
        }
        Assert.Equal(PromptBits(fresh.PromptLogprobs!), PromptBits(grown.PromptLogprobs!));

        // A state of 128 rows and every row's logits from the start, as the slot's was, run in the slot's chunks.
        int vocab = model.Config.VocabSize;
        using RunState whole = model.CreateState(BatchScheduler.PrefillRows, longPrompt.Length, allRowLogits: true);
        for (int start = 0; start < longPrompt.Length; start += BatchScheduler.PrefillRows)
        {
            int rows = Math.Min(BatchScheduler.PrefillRows, longPrompt.Length - start);
            model.Forward(whole, longPrompt.AsSpan(start, rows), start, LogitsMode.All);
            float[] logits = model.ReadLogits(whole, rows);
            for (int r = 0; r < rows && start + r + 1 < longPrompt.Length; r++)
            {
                ReadOnlySpan<float> row = logits.AsSpan(r * vocab, vocab);
                double max = row.ToArray().Max();
                double logSum = max + Math.Log(row.ToArray().Sum(l => Math.Exp(l - max)));
                ChosenLogprobs scored = grown.PromptLogprobs!.Following[start + r];
                Assert.Equal(longPrompt[start + r + 1], scored.Chosen.TokenId);
                Assert.Equal(row[longPrompt[start + r + 1]] - logSum, scored.Chosen.Logprob, Tolerances.LogitsAbsolute);
            }
        }
    }

    /// <summary>
    /// Rows of a prompt chunk that the host cannot hold fail that request alone, naming the buffer (the state is left
    /// holding no rows), and the slot's next request grows them again and replies as a fresh engine does.
    /// </summary>
    [Fact]
    public async Task Rows_the_host_cannot_hold_fail_that_request_alone_and_the_slot_grows_them_again()
    {
        // Buffers from 40 KiB are checked: a layer's first 256 positions of keys (× kv width 32, 32 KiB) are not, a
        // 128-row chunk's widest activation (× MLP width 172, 86 KiB) is.
        using var host = new HostMemoryControlledCpu(checkedBytes: 40 << 10);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, host.Backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        CompletionRequest Request() => new() { PromptIds = ReplyBits.Prompt(200, seed: 5), MaxTokens = 4, TopLogprobs = 1 };
        CompletionResult after;
        using (var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 }))
        {
            Assert.Equal(2, (await engine.CompleteAsync(new CompletionRequest { PromptIds = [1, 403, 407], MaxTokens = 2 })).TokenIds.Count);
            host.FreeBytes = 40 << 10;
            var e = await Assert.ThrowsAsync<DeviceOutOfMemoryException>(() => engine.CompleteAsync(Request()));
            Assert.StartsWith("host memory is short: 86.0 KiB for a buffer of 22016 floats did not fit", e.Message, StringComparison.Ordinal);
            Assert.Null(engine.Fault);
            host.FreeBytes = 1L << 40;
            after = await engine.CompleteAsync(Request());
        }
        using var fresh = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        Assert.Equal(ReplyBits.Of(await fresh.CompleteAsync(Request())), ReplyBits.Of(after));
    }

    private static string PromptBits(PromptLogprobs p) => string.Join(' ', p.Following.SelectMany(l => l.Top.Select(t => t.Logprob).Prepend(l.Chosen.Logprob))
        .Select(x => BitConverter.SingleToInt32Bits(x).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)));
}
