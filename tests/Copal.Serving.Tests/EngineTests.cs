using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Model.Evaluation;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>The completion API in process: leaving a stream early, request errors, max_tokens 0.</summary>
public sealed class EngineTests : IDisposable
{
    private readonly TempDir _temp = new("copal-engine-");

    public void Dispose() => _temp.Dispose();

    /// <summary>A request that ends with its prefill (max_tokens 1) runs no decode step; the peak counts its cache too.</summary>
    [Fact]
    public async Task The_peak_of_the_kv_caches_counts_a_request_that_ends_with_its_prefill()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1, PrefixCache = true });
        CompletionResult one = await engine.CompleteAsync(new CompletionRequest { PromptIds = [.. Enumerable.Range(0, 400).Select(i => 1 + (i * 37 % 500))], MaxTokens = 1 });
        Assert.Single(one.TokenIds);
        Assert.Equal(0, engine.Statistics.Steps);
        Assert.True(engine.KvCacheBytes > 0);
        Assert.Equal(engine.KvCacheBytes, engine.Statistics.PeakKvCacheBytes); // the kept cache is the one the prefill filled
    }

    /// <summary>
    /// Without the prefix cache, a slot's cache grows with a long request and is given back when the request ends:
    /// what a server holds follows the requests in flight, not the longest one it has served. With it, the grown cache
    /// stays for the next turn of that conversation, and nothing else is held.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_long_request_gives_its_grown_cache_back_when_it_ends_unless_the_prefix_cache_keeps_it(bool prefixCache)
    {
        using var backend = new CpuBackend();
        InferenceEngine? running = null;
        long inFlight = 0;
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend,
            new EngineOptions { Parallel = 1, PrefixCache = prefixCache, BeforeDecodeStep = () => inFlight = Math.Max(inFlight, running!.KvCacheBytes) });
        running = engine;
        await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 3 });
        long small = engine.Statistics.PeakKvCacheBytes; // the short request's cache, given back when it ended
        Assert.Equal(0, engine.KvCacheBytes);
        await engine.CompleteAsync(new CompletionRequest { PromptIds = [.. Enumerable.Range(0, 400).Select(i => 1 + (i * 37 % 500))], MaxTokens = 3 });
        Assert.True(inFlight > small, $"the long request's cache ({inFlight} bytes) did not grow past the short one's ({small})");
        Assert.Equal(inFlight, engine.Statistics.PeakKvCacheBytes);
        // Given back, and the slot's next job allocates a small one; or kept with the long prompt's chunks.
        Assert.Equal(prefixCache ? inFlight : 0, engine.KvCacheBytes);
        CompletionResult again = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 3 });
        Assert.Equal(3, again.TokenIds.Count);
        // The short prompt ran in the slot's cache as it found it; it keeps nothing of the long one's, so the cache
        // goes back now (a slot that keeps no prefix holds none).
        Assert.Equal(0, engine.KvCacheBytes);
    }

    [Fact]
    public async Task Leaving_a_stream_early_ends_its_generation_as_cancelled()
    {
        using var gate = new ManualResetEventSlim(false);
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { BeforeDecodeStep = () => gate.Wait() });
        // No token is cancelled: the caller just stops enumerating after the first chunk.
        try
        {
            await foreach (CompletionChunk _ in engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 400 }))
            {
                break;
            }
        }
        finally
        {
            gate.Set();
        }
        Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Cancelled == 1, TimeSpan.FromMinutes(1)), "the generation went on");
        Assert.Equal(0, engine.Statistics.Completed);
        Assert.Equal(1, engine.Statistics.Tokens);
    }

    /// <summary>
    /// Each chunk says when its token was chosen, not when its reader woke: here the reader takes the first chunk and
    /// then waits until the whole generation is over, so every later token was chosen long before it is read. Token k
    /// (k ≥ 2) comes from decode step k − 1, so it is chosen after that step starts and before the next one does.
    /// </summary>
    [Fact]
    public async Task Chunks_carry_when_their_token_was_chosen_not_when_they_were_read()
    {
        using var backend = new CpuBackend();
        var stepStarts = new List<long>();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend,
            new EngineOptions { Parallel = 1, BeforeDecodeStep = () => stepStarts.Add(System.Diagnostics.Stopwatch.GetTimestamp()) });
        long submitted = System.Diagnostics.Stopwatch.GetTimestamp();
        var chosen = new List<long>();
        long resumed = 0, tail = -1;
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 6 }))
        {
            if (c.TokenIds.Count == 0)
            {
                tail = c.ChosenAt;
                continue;
            }
            chosen.Add(c.ChosenAt);
            if (chosen.Count == 1)
            {
                Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Completed == 1, TimeSpan.FromMinutes(1)), "the generation did not end");
                resumed = System.Diagnostics.Stopwatch.GetTimestamp();
            }
        }
        Assert.Equal(6, chosen.Count);
        Assert.Equal(0, tail);
        Assert.True(chosen[0] > submitted, "the first token was stamped before its request");
        Assert.True(chosen[^1] < resumed, "a token read after the wait was stamped when it was read");
        Assert.Equal(5, stepStarts.Count);
        for (int k = 1; k < chosen.Count; k++)
        {
            long next = k < stepStarts.Count ? stepStarts[k] : resumed;
            Assert.True(stepStarts[k - 1] < chosen[k] && chosen[k] < next, $"token {k + 1} was not stamped within decode step {k}");
        }
    }

    /// <summary>
    /// Each token's log-probability, and the most likely tokens beside it, are the log-softmax of the model's logits at
    /// its step: checked against a forward pass run here step by step, in double. The sampler's temperature and
    /// penalty do not enter (here a sampled run with a repetition penalty reports its own tokens' model
    /// log-probabilities); a greedy token is the first of the list.
    /// </summary>
    [Theory]
    [InlineData(0f, 1f)]
    [InlineData(0.9f, 1.3f)]
    public async Task Log_probabilities_are_the_log_softmax_of_the_models_logits(float temperature, float penalty)
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        int[] prompt = tokenizer.Encode("Once upon a time");
        var chunks = new List<CompletionChunk>();
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest
        {
            PromptIds = prompt, MaxTokens = 6, TopLogprobs = 5, Temperature = temperature, RepetitionPenalty = penalty, Seed = 3,
        }))
        {
            chunks.Add(c);
        }
        CompletionChunk[] tokens = [.. chunks.Where(c => c.TokenIds.Count > 0)];
        Assert.Equal(6, tokens.Length);
        Assert.Null(chunks[^1].Logprobs); // the last chunk only flushes text
        using RunState state = model.CreateState(prompt.Length, prompt.Length + tokens.Length);
        model.Forward(state, prompt, 0, LogitsMode.Last);
        for (int i = 0; i < tokens.Length; i++)
        {
            float[] logits = model.ReadLogits(state);
            double max = logits.Max();
            double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
            ChosenLogprobs lp = tokens[i].Logprobs!;
            int id = tokens[i].TokenIds[0];
            Assert.Equal(id, lp.Chosen.TokenId);
            Assert.Equal(logits[id] - logSum, lp.Chosen.Logprob, Tolerances.LogitsAbsolute);
            int[] order = [.. Enumerable.Range(0, logits.Length).OrderByDescending(j => logits[j]).ThenBy(j => j).Take(5)];
            Assert.Equal(order, lp.Top.Select(t => t.TokenId));
            for (int k = 0; k < 5; k++)
            {
                Assert.Equal(logits[order[k]] - logSum, lp.Top[k].Logprob, Tolerances.LogitsAbsolute);
            }
            if (temperature == 0)
            {
                Assert.Equal(lp.Top[0], lp.Chosen);
            }
            model.Forward(state, [id], prompt.Length + i, LogitsMode.Last);
        }
    }

    /// <summary>
    /// A prompt's log-probabilities (what an evaluation harness scores a text by) are each token's log-softmax given the
    /// tokens before it, as one forward pass over the whole prompt gives them: here a prompt of three prefill chunks,
    /// scored alone (max_tokens 0) and before a generation, whose first token is the plain prefill's.
    /// </summary>
    [Fact]
    public async Task A_prompts_log_probabilities_are_those_of_a_forward_pass_over_it()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        string text = File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt"))[..900];
        int[] prompt = tokenizer.Encode(text);
        Assert.InRange(prompt.Length, 2 * 128 + 1, 480); // past two prefill chunks, within the 512 positions

        float[] logits;
        using (RunState state = model.CreateState(prompt.Length, prompt.Length, allRowLogits: true))
        {
            model.Forward(state, prompt, 0, LogitsMode.All);
            logits = model.ReadLogits(state, prompt.Length);
        }
        int vocab = model.Config.VocabSize;
        void AssertScores(PromptLogprobs? scored)
        {
            Assert.NotNull(scored);
            Assert.Equal(prompt, scored.TokenIds);
            Assert.Equal(prompt.Length - 1, scored.Following.Count);
            for (int i = 0; i + 1 < prompt.Length; i++)
            {
                Span<float> row = logits.AsSpan(i * vocab, vocab);
                double max = row.ToArray().Max();
                double logSum = max + Math.Log(row.ToArray().Sum(l => Math.Exp(l - max)));
                Assert.Equal(prompt[i + 1], scored.Following[i].Chosen.TokenId);
                Assert.Equal(row[prompt[i + 1]] - logSum, scored.Following[i].Chosen.Logprob, Tolerances.LogitsAbsolute);
                Assert.Equal(Array.IndexOf(row.ToArray(), (float)max), scored.Following[i].Top[0].TokenId);
            }
        }

        var alone = new List<CompletionChunk>();
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 0, TopLogprobs = 1, ScorePrompt = true }))
        {
            alone.Add(c);
        }
        CompletionChunk only = Assert.Single(alone);
        Assert.Equal(FinishReason.Length, only.FinishReason);
        Assert.Equal(0, only.Usage!.CompletionTokens);
        AssertScores(only.PromptLogprobs);

        var generated = new List<CompletionChunk>();
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 2, TopLogprobs = 1, ScorePrompt = true }))
        {
            generated.Add(c);
        }
        AssertScores(generated[0].PromptLogprobs);
        Assert.All(generated.Skip(1), c => Assert.Null(c.PromptLogprobs));
        int greedy = Array.IndexOf(logits[((prompt.Length - 1) * vocab)..], logits[((prompt.Length - 1) * vocab)..].Max());
        Assert.Equal(greedy, generated[0].TokenIds[0]);

        // A plain request after it runs in a plain slot again; the prompt's scores need log-probabilities asked for.
        CompletionResult plain = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 1 });
        Assert.Equal(greedy, Assert.Single(plain.TokenIds));
        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, ScorePrompt = true }));
        Assert.Equal("logprobs", e.Parameter);
    }

    /// <summary>
    /// A reply the model ends has its end-of-sequence token's log-probability last, as OpenAI's and vLLM's do: an
    /// evaluation harness scores a continuation that ends there. Here generation_config.json makes the greedy first
    /// token an end of sequence, so the reply is empty and the token comes on the last chunk, without text or count.
    /// </summary>
    [Fact]
    public async Task An_ending_end_of_sequence_token_has_its_log_probability_last()
    {
        string dir = TestData.CopyOfStories260K(_temp.File("model"));
        using var backend = new CpuBackend();
        int first;
        using (InferenceEngine plain = InferenceEngine.Load(dir, backend))
        {
            first = (await plain.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 1 })).TokenIds[0];
        }
        File.WriteAllText(Path.Combine(dir, Copal.Model.Config.GenerationConfig.FileName), $"{{\"eos_token_id\": [2, {first}]}}");
        using InferenceEngine engine = InferenceEngine.Load(dir, backend);
        var request = new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 3, TopLogprobs = 2, ScorePrompt = true };
        CompletionResult result = await engine.CompleteAsync(request);
        Assert.Empty(result.TokenIds);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(0, result.Usage.CompletionTokens);
        ChosenLogprobs end = Assert.Single(result.Logprobs!);
        Assert.Equal(first, end.Chosen.TokenId);
        Assert.Equal(end.Top[0], end.Chosen); // greedy
        Assert.NotNull(result.PromptLogprobs);
        var chunks = new List<CompletionChunk>();
        await foreach (CompletionChunk c in engine.StreamAsync(request))
        {
            chunks.Add(c);
        }
        CompletionChunk last = Assert.Single(chunks);
        Assert.Equal("", last.Text);
        Assert.Equal(first, last.Logprobs!.Chosen.TokenId);
        Assert.NotNull(last.PromptLogprobs);
    }

    [Fact]
    public async Task Log_probabilities_come_only_when_asked_and_top_logprobs_is_range_checked()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 3 }))
        {
            Assert.Null(c.Logprobs);
        }
        CompletionResult none = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 2, TopLogprobs = 0 });
        Assert.Equal(2, none.TokenIds.Count);
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 2, TopLogprobs = 0 }))
        {
            Assert.True(c.TokenIds.Count == 0 || c.Logprobs is { Top.Count: 0 } lp && lp.Chosen.Logprob <= 0);
        }
        foreach (int bad in new[] { -1, CompletionRequest.MaxTopLogprobs + 1 })
        {
            var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "x", TopLogprobs = bad }));
            Assert.Equal("top_logprobs", e.Parameter);
        }
    }

    /// <summary>
    /// A stop text ends the sequence at the token that completes it: the engine decodes no token the reply does not
    /// hold. Before, the reader found the match and the decoding thread heard only at its next step, by which time
    /// stories260K, whose steps are far quicker than a reader's wake, had decoded dozens more.
    /// </summary>
    [Fact]
    public async Task A_stop_text_ends_the_sequence_at_the_token_that_completes_it()
    {
        using var backend = new CpuBackend();
        string text;
        using (InferenceEngine plain = InferenceEngine.Load(TestData.Stories260K, backend))
        {
            text = (await plain.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 60 })).Text;
        }
        // A word well into the reply, not at its start: the reply is the text before it.
        string stop = text[30..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        CompletionResult r = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 200, Stop = [stop] });
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], r.Text);
        Assert.Equal(r.Usage.CompletionTokens, engine.Statistics.Tokens);
    }

    /// <summary>
    /// generation_config.json's eos_token_id ends a generation as config.json's does: instruct models list their
    /// end-of-turn tokens there (Phi-3's &lt;|end|&gt;, Llama 3's &lt;|eot_id|&gt;), and transformers and vLLM stop at
    /// them. Here it lists the fourth token the model chooses greedily, so the reply stops there.
    /// </summary>
    [Fact]
    public async Task A_token_generation_config_lists_ends_the_generation()
    {
        string dir = TestData.CopyOfStories260K(_temp.File("model"));
        using var backend = new CpuBackend();
        int[] greedy;
        using (InferenceEngine plain = InferenceEngine.Load(dir, backend))
        {
            greedy = [.. (await plain.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 12 })).TokenIds];
        }
        int stop = greedy[3];
        Assert.DoesNotContain(stop, greedy[..3]);
        File.WriteAllText(Path.Combine(dir, GenerationConfig.FileName), $"{{\"bos_token_id\": 1, \"eos_token_id\": [2, {stop}]}}");
        using InferenceEngine engine = InferenceEngine.Load(dir, backend);
        Assert.Contains(stop, engine.StopTokenIds);
        CompletionResult r = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 12 });
        Assert.Equal(greedy[..3], r.TokenIds); // the stop token itself is not part of the reply, as EOS is not
        Assert.Equal(FinishReason.Stop, r.FinishReason);

        // An id the vocabulary lacks is refused naming the file and the field.
        File.WriteAllText(Path.Combine(dir, GenerationConfig.FileName), "{\"eos_token_id\": [2, 9999]}");
        var e = Assert.Throws<ModelConfigException>(() => InferenceEngine.Load(dir, backend).Dispose());
        Assert.Equal($"{Path.Combine(dir, GenerationConfig.FileName)}: field 'eos_token_id' must be a token id in 0..511 (vocab_size 512), found 9999", e.Message);
    }

    /// <summary>
    /// Tokens the scheduler chose before the caller cancelled wait in the stream's channel; the next read must not
    /// hand them out. The engine is held at its 16th decode step while tokens pile up, so several are buffered when
    /// the token is cancelled.
    /// </summary>
    [Fact]
    public async Task A_cancelled_stream_hands_out_none_of_the_tokens_already_chosen()
    {
        using var gate = new ManualResetEventSlim(false);
        int steps = 0;
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            BeforeDecodeStep = () =>
            {
                if (++steps >= 16)
                {
                    gate.Wait(TimeSpan.FromMinutes(1));
                }
            },
        });
        using var cancel = new CancellationTokenSource();
        IAsyncEnumerator<CompletionChunk> chunks = engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 400 }, cancel.Token)
            .GetAsyncEnumerator(cancel.Token);
        try
        {
            Assert.True(await chunks.MoveNextAsync());
            Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Tokens >= 8, TimeSpan.FromMinutes(1)), "the engine chose no more tokens");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await chunks.MoveNextAsync());
        }
        finally
        {
            gate.Set();
            await chunks.DisposeAsync();
        }
        Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Cancelled == 1, TimeSpan.FromMinutes(1)), "the generation went on");
    }

    /// <summary>
    /// A request cancelled during its prefill stops it after the chunk in flight (128 prompt tokens), so a request
    /// behind it waits no longer for a prefill nobody wants. Counted by the backend's embedding lookups (one per
    /// forward chunk), not timed.
    /// </summary>
    [Fact]
    public async Task A_request_cancelled_during_its_prefill_stops_it_within_one_chunk()
    {
        using var backend = new EmbeddingCountingBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        using var cancel = new CancellationTokenSource();
        // 500 prompt tokens: chunks of 128, 128, 128 and 116. The first lookup of a full chunk cancels the request.
        backend.OnEmbedding = rows =>
        {
            if (rows == BatchScheduler.PrefillRows)
            {
                cancel.Cancel();
            }
        };
        int[] longPrompt = [1, .. Enumerable.Range(0, 499).Select(i => 3 + (i * 7 % 500))];
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            engine.CompleteAsync(new CompletionRequest { PromptIds = longPrompt, MaxTokens = 5 }, cancel.Token));
        backend.OnEmbedding = null;
        // The scheduler runs one request at a time: when this one is answered, the cancelled prefill is behind it.
        CompletionResult next = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 3 });
        Assert.Equal(3, next.Usage.CompletionTokens);
        Assert.Equal(1, backend.Rows.Count(r => r == BatchScheduler.PrefillRows));
        Assert.DoesNotContain(116, backend.Rows);
        Assert.Equal(1, engine.Statistics.Cancelled);
        Assert.Equal(1, engine.Statistics.Completed);
        Assert.Equal(3, engine.Statistics.Tokens); // the cancelled request chose no token
    }

    /// <summary>
    /// The end-of-sequence token's offset is where the reply's text ends, also when text held back for a stop text
    /// that never came out is handed out with it: here the first token's text, the start of a stop text, then an
    /// end of sequence (generation_config.json makes the greedy second token one).
    /// </summary>
    [Fact]
    public async Task An_ending_end_of_sequence_tokens_offset_follows_the_text_held_back_for_a_stop_text()
    {
        string dir = TestData.CopyOfStories260K(_temp.File("model"));
        using var backend = new CpuBackend();
        int[] firstTwo;
        string firstText;
        using (InferenceEngine plain = InferenceEngine.Load(dir, backend))
        {
            firstTwo = [.. (await plain.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 2 })).TokenIds];
            firstText = (await plain.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 1 })).Text;
        }
        Assert.NotEqual(firstTwo[0], firstTwo[1]);
        Assert.NotEmpty(firstText);
        File.WriteAllText(Path.Combine(dir, Copal.Model.Config.GenerationConfig.FileName), $"{{\"eos_token_id\": [2, {firstTwo[1]}]}}");
        using InferenceEngine engine = InferenceEngine.Load(dir, backend);
        var chunks = new List<CompletionChunk>();
        await foreach (CompletionChunk c in engine.StreamAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 3, TopLogprobs = 1, Stop = [firstText + "zzz"] }))
        {
            chunks.Add(c);
        }
        CompletionChunk last = chunks[^1];
        Assert.Equal(FinishReason.Stop, last.FinishReason);
        Assert.Equal(firstTwo[1], last.Logprobs!.Chosen.TokenId);
        Assert.Equal(firstText, string.Concat(chunks.Select(c => c.Text)));
        Assert.Equal(firstText, last.Text); // held back until the end
        Assert.Equal(firstText.Length, last.TextOffset);
    }

    /// <summary>The engine, like the generator, never chooses an id past the tokenizer (a padded vocabulary's rows).</summary>
    [Fact]
    public async Task The_engine_samples_only_ids_the_tokenizer_has()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { DecodableTokens = 100 });
        Assert.Equal(100, engine.Options.DecodableTokens);
        CompletionResult r = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 200, Temperature = 2f, Seed = 3 });
        Assert.True(r.TokenIds.Count > 20, $"{r.TokenIds.Count} tokens");
        Assert.All(r.TokenIds, id => Assert.InRange(id, 0, 99));
        using InferenceEngine whole = InferenceEngine.Load(TestData.Stories260K, backend);
        Assert.Equal(whole.Tokenizer.VocabSize, whole.Options.DecodableTokens);
    }

    [Fact]
    public async Task Requests_out_of_range_name_the_field_and_max_tokens_0_gives_usage_only()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { ContextSize = 64 });
        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = string.Join(" ", Enumerable.Repeat("dog", 100)) }));
        Assert.Equal("prompt", e.Parameter);
        Assert.True(e.ContextLengthExceeded);
        Assert.Contains("context of 64", e.Message);
        e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", TopP = 0, Temperature = 1 }));
        Assert.Equal("top_p", e.Parameter);
        e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", TopK = -1, Temperature = 1 }));
        Assert.Equal("top_k", e.Parameter);
        e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", RepetitionPenalty = 0 }));
        Assert.Equal("repetition_penalty", e.Parameter);
        // An empty stop text would match at the reply's start and end every reply empty.
        e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", Stop = ["x", ""] }));
        Assert.Equal("stop", e.Parameter);
        Assert.Contains("a stop text must not be empty", e.Message, StringComparison.Ordinal);
        CompletionResult none = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 0 });
        Assert.Equal("", none.Text);
        Assert.Equal(FinishReason.Length, none.FinishReason);
        Assert.Equal(0, none.Usage.CompletionTokens);
        Assert.Equal(engine.Tokenizer.Encode("Once").Length, none.Usage.PromptTokens);
        // The prefill's token can end a request: max_tokens 1 is that one token, then length.
        CompletionResult one = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 1 });
        Assert.Equal(1, one.Usage.CompletionTokens);
        Assert.Equal(FinishReason.Length, one.FinishReason);
        Assert.Equal(0, engine.Statistics.Active);
        // A request that reaches the context ends with length.
        CompletionResult full = await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 1000 });
        Assert.Equal(FinishReason.Length, full.FinishReason);
        Assert.Equal(64, full.Usage.TotalTokens);
    }

    /// <summary>
    /// A prompt exactly as long as the context is taken (it can be scored, or give the one token its last position
    /// predicts); one token more is refused as too long. Mutation round 6: refusing the exact length passed every test.
    /// </summary>
    [Fact]
    public async Task A_prompt_as_long_as_the_context_is_taken_and_one_token_more_is_refused()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { ContextSize = 64 });
        CompletionResult whole = await engine.CompleteAsync(new CompletionRequest { PromptIds = [.. Enumerable.Repeat(300, 64)], MaxTokens = 0 });
        Assert.Equal(64, whole.Usage.PromptTokens);
        Assert.Equal(0, whole.Usage.CompletionTokens);
        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { PromptIds = [.. Enumerable.Repeat(300, 65)], MaxTokens = 0 }));
        Assert.Equal("prompt", e.Parameter);
        Assert.True(e.ContextLengthExceeded);
        Assert.Equal("the prompt has 65 tokens, more than the context of 64 positions", e.Message);
    }

    /// <summary>
    /// A text prompt is refused from its length only when the fewest tokens it can encode to are more than the context:
    /// under NFKC, a mathematical bold "𝐚" (4 bytes) is "a" (1 byte), the bound's whole margin, so 800 of them (3,200
    /// bytes) are exactly 100 tokens of the longest, 8 bytes, and the bound is 100 too. Such a prompt fits a context of
    /// 100 and is taken; 8 more letters make the bound 101, past it. Mutation round 6: refusing a bound equal to the
    /// context passed every test.
    /// </summary>
    [Fact]
    public async Task A_text_prompt_whose_least_token_count_equals_the_context_is_taken()
    {
        string tokenizerJson = _temp.File("tokenizer.json");
        File.WriteAllText(tokenizerJson, """
            {"version": "1.0", "added_tokens": [], "normalizer": {"type": "NFKC"}, "pre_tokenizer": null, "post_processor": null, "decoder": null,
             "model": {"type": "BPE", "dropout": null, "unk_token": "u", "fuse_unk": false, "byte_fallback": false,
                       "vocab": {"u": 0, "a": 1, "aa": 2, "aaaa": 3, "aaaaaaaa": 4}, "merges": ["a a", "aa aa", "aaaa aaaa"]}}
            """);
        CopalTokenizer tokenizer = CopalTokenizer.FromFile(tokenizerJson);
        static string Bold(int letters) => string.Concat(Enumerable.Repeat("\U0001D41A", letters));
        Assert.Equal(100, tokenizer.MinTokenCount(Bold(800)));
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { ContextSize = 100 });
        CompletionResult whole = await engine.CompleteAsync(new CompletionRequest { Prompt = Bold(800), MaxTokens = 0 });
        Assert.Equal(100, whole.Usage.PromptTokens);
        var e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = Bold(808), MaxTokens = 0 }));
        Assert.Equal("prompt", e.Parameter);
        Assert.True(e.ContextLengthExceeded);
        Assert.Equal("the prompt has at least 101 tokens (from its length), more than the context of 100 positions", e.Message);
    }

    /// <summary>
    /// Prepare checks a request as a stream would and encodes its prompt, running nothing: a caller that starts
    /// several requests checks them all first. The prepared request runs as the original.
    /// </summary>
    [Fact]
    public async Task Prepare_checks_and_encodes_a_request_without_running_it()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { ContextSize = 64 });
        var e = Assert.Throws<CompletionRequestException>(() => engine.Prepare(new CompletionRequest { Prompt = string.Join(" ", Enumerable.Repeat("dog", 100)) }));
        Assert.True(e.ContextLengthExceeded);
        e = Assert.Throws<CompletionRequestException>(() => engine.Prepare(new CompletionRequest { PromptIds = [1, 99999] }));
        Assert.Equal("prompt", e.Parameter);
        var request = new CompletionRequest { Prompt = "Once upon a", MaxTokens = 6 };
        CompletionRequest prepared = engine.Prepare(request);
        Assert.Equal(0, engine.Statistics.Started);
        Assert.Null(prepared.Prompt);
        Assert.Equal(engine.Tokenizer.Encode("Once upon a"), prepared.PromptIds);
        // The text continues the prompt's ids as it continues the prompt's text, its first space included.
        Assert.Equal((await engine.CompleteAsync(request)).Text, (await engine.CompleteAsync(prepared)).Text);
        // An empty prompt starts from BOS, as a stream of it does.
        Assert.Equal([engine.Tokenizer.BosId!.Value], engine.Prepare(new CompletionRequest { Prompt = "", AddSpecialTokens = false }).PromptIds);
    }

    [Fact]
    public async Task A_null_stop_list_is_an_ArgumentNullException_naming_the_field()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        var e = await Assert.ThrowsAsync<ArgumentNullException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", Stop = null! }));
        Assert.Equal("request", e.ParamName);
        Assert.Contains("CompletionRequest.Stop is null", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>
    /// A refused request is an ArgumentException whose ParamName is the field (a caller that logs ParamName, as .NET code
    /// does, learns which one), and whose message is the plain sentence the server sends, without .NET's
    /// " (Parameter '…')" suffix.
    /// </summary>
    [Fact]
    public async Task A_refused_request_names_its_field_as_the_ParamName_and_keeps_its_message()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        ArgumentException e = await Assert.ThrowsAsync<CompletionRequestException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a", MaxTokens = -1 }));
        Assert.Equal("max_tokens", e.ParamName);
        Assert.Equal("max_tokens must be ≥ 0, got -1", e.Message);
        e = Assert.Throws<CompletionRequestException>(() => engine.Prepare(new CompletionRequest { Prompt = "a", TopP = 1.5f }));
        Assert.Equal("top_p", e.ParamName);
        Assert.Equal("top_p must be in (0, 1], got 1.5", e.Message);
    }

    /// <summary>
    /// After Dispose, Prepare refuses as the requests do (a disposed object is an ObjectDisposedException, never a
    /// request that seems to go on), and the engine reports no KV cache: the slots gave theirs back.
    /// </summary>
    [Fact]
    public async Task A_disposed_engine_refuses_Prepare_and_holds_no_kv_cache()
    {
        using var backend = new CpuBackend();
        InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        // A prompt of two whole chunks, which the prefix cache keeps (a shorter one's slot holds no cache once it ends).
        await engine.CompleteAsync(new CompletionRequest { PromptIds = [.. Enumerable.Range(0, 300).Select(i => 1 + (i * 37 % 500))], MaxTokens = 4 });
        Assert.True(engine.KvCacheBytes > 0);
        engine.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => engine.Prepare(new CompletionRequest { Prompt = "a" }));
        Assert.Equal(typeof(InferenceEngine).FullName, e.ObjectName);
        Assert.Equal(0, engine.KvCacheBytes);
    }

    /// <summary>The engine is what the caller holds: a request after Dispose names it, not its internal scheduler.</summary>
    [Fact]
    public async Task A_disposed_engine_names_itself_and_Dispose_again_is_harmless()
    {
        using var backend = new CpuBackend();
        InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        engine.Dispose();
        engine.Dispose();
        var e = await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "a" }));
        Assert.Equal(typeof(InferenceEngine).FullName, e.ObjectName);
    }

    /// <summary>
    /// A model the caller disposed under an engine that does not own it: the request fails with the model's
    /// ObjectDisposedException (not an access violation on the decoding thread, which would end the process), and
    /// the engine goes on answering.
    /// </summary>
    [Fact]
    public async Task An_engine_whose_model_was_disposed_fails_its_requests_and_stays_up()
    {
        using var backend = new CpuBackend();
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), ownsModel: false);
        model.Dispose();
        for (int i = 0; i < 2; i++)
        {
            var e = await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 4 }));
            Assert.Equal(typeof(LlamaModel).FullName, e.ObjectName);
        }
    }

    /// <summary>
    /// The model disposed between decode steps fails the sequence in flight with the model's ObjectDisposedException;
    /// the decoding loop has ended, and a later request says so with that failure rather than that the engine was disposed.
    /// </summary>
    [Fact]
    public async Task A_model_disposed_between_decode_steps_fails_the_sequence_and_later_requests_name_the_failure()
    {
        using var backend = new CpuBackend();
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K),
            new EngineOptions { BeforeDecodeStep = model.Dispose }, ownsModel: false);
        var e = await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 8 }));
        Assert.Equal(typeof(LlamaModel).FullName, e.ObjectName);
        long started = engine.Statistics.Started;
        var later = await Assert.ThrowsAsync<InvalidOperationException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 8 }));
        Assert.IsType<ObjectDisposedException>(later.InnerException);
        Assert.IsType<ObjectDisposedException>(engine.Fault);
        Assert.Equal(started, engine.Statistics.Started); // a refused request was never started
        Assert.Contains("stopped decoding after an error", later.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', later.Message);
    }

    /// <summary>
    /// A sequence whose KV cache the device cannot grow fails alone: the others in the batch finish, the engine goes on
    /// (a failed batched pass would end it for every request), and the failure names the device's memory.
    /// </summary>
    [Fact]
    public async Task A_cache_the_device_cannot_grow_fails_that_request_alone_and_the_engine_goes_on()
    {
        // A slot reserves 256 positions and doubles, up to what its request can reach (here the context): the grown
        // cache of 512 positions a layer (× kv width 32) is refused.
        using var device = new KvRefusingDevice(refusedLength: 512 * 32);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 2 });
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        Task<CompletionResult> past256 = engine.CompleteAsync(new CompletionRequest { PromptIds = story[..250], MaxTokens = 300 });
        Task<CompletionResult> short1 = engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 20 });
        var e = await Assert.ThrowsAsync<DeviceOutOfMemoryException>(() => past256);
        Assert.Contains("512 positions", e.Message, StringComparison.Ordinal);
        Assert.True((await short1).TokenIds.Count > 0);
        Assert.Null(engine.Fault);
        Assert.True((await engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 5 })).TokenIds.Count > 0);
        Assert.True(device.Refused > 0);
    }

    /// <summary>
    /// On the CPU the KV caches are host memory: a cache that would grow past what the host has left is refused as a
    /// device's is, so that request alone fails, naming the host's memory, and the engine goes on (the process was
    /// left to the kernel's out-of-memory killer, which ends the server with every request in flight).
    /// </summary>
    [Fact]
    public async Task A_cache_the_host_cannot_grow_fails_that_request_alone_and_the_engine_goes_on()
    {
        // Buffers from 40 KiB are checked: a layer's first 256 positions of keys (× kv width 32, 32 KiB) are not, nor
        // the 50-token prompt's activations (its widest, 50 rows × MLP width 172, 34 KiB); a grown cache of 512
        // positions (64 KiB, the context, which max_tokens 462 reaches) is.
        using var host = new HostMemoryControlledCpu(checkedBytes: 40 << 10);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, host.Backend);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, PrefixCache = false });
        Assert.True((await engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 5 })).TokenIds.Count > 0);
        host.FreeBytes = 40 << 10;
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        var e = await Assert.ThrowsAsync<DeviceOutOfMemoryException>(() => engine.CompleteAsync(new CompletionRequest { PromptIds = story[..50], MaxTokens = 462 }));
        Assert.True(e.OnHost);
        Assert.StartsWith("host memory is short: 64.0 KiB for a buffer of 16384 floats did not fit", e.Message, StringComparison.Ordinal);
        Assert.Null(engine.Fault);
        host.FreeBytes = 1L << 40;
        Assert.True((await engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 5 })).TokenIds.Count > 0);
    }

    /// <summary>
    /// A slot gives back a cache that grew, and makes a new one for its next request: when the device refuses that one,
    /// the request fails with the device's error (it waited forever once, the engine's loop ended by a null job), and
    /// the engine goes on to serve the next request.
    /// </summary>
    [Fact]
    public async Task A_cache_the_device_cannot_make_again_fails_that_request_alone_and_the_engine_goes_on()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, PrefixCache = false });
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        // Past the slot's first 256 positions: its cache grows, and is given back when the request ends.
        Assert.True((await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..250], MaxTokens = 20 })).TokenIds.Count > 0);
        // The slot's next state refused at its first buffer of 8,192 floats (a layer's first 256 positions of keys, the
        // most a cache reserves, which a request of max_tokens 256 can reach), as a full device would refuse it.
        device.RefusedLength = 256 * 32;
        Task<CompletionResult> refused = engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 256 });
        // A guard against the hang this test is about, not a timing: the request fails in milliseconds.
        var e = await Assert.ThrowsAsync<DeviceOutOfMemoryException>(() => refused.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains("out of memory", e.Message, StringComparison.Ordinal);
        Assert.Null(engine.Fault);
        device.RefusedLength = -1;
        Assert.True((await engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 5 })).TokenIds.Count > 0);
        Assert.True(device.Refused > 0);
    }

    /// <summary>
    /// A cache kept for a later turn never makes a request of now fail: when the device refuses a new slot's cache,
    /// the idle slots' kept caches are given back and the request is admitted again.
    /// </summary>
    [Fact]
    public async Task A_device_that_refuses_a_new_cache_gets_the_idle_slots_kept_caches_back_first()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 2 });
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..300], MaxTokens = 3 });
        long kept = engine.KvCacheBytes;
        Assert.True(kept > 0);
        // The second slot's first state is refused once (its first buffer: a layer's keys for the 15 positions its
        // request reaches), as a device full of the first slot's cache would refuse it.
        device.RefusedLength = 15 * 32;
        device.RefusalsLeft = 1;
        CompletionResult other = await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..10], MaxTokens = 5, LogitBias = new Dictionary<int, float> { [2] = -100f } });
        Assert.Equal(5, other.TokenIds.Count);
        Assert.Equal(1, device.Refused);
        Assert.Null(engine.Fault);
        // The first conversation's cache went: its next turn runs whole.
        await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..310], MaxTokens = 3 });
        Assert.Equal(0, engine.Statistics.CachedPromptTokens);
    }

    /// <summary>
    /// The batch step's state grows with the rows in flight; when the device refuses it, the idle slots' kept caches
    /// are given back and the step goes on. Before, the refusal ended the engine for every request while a cache kept
    /// for a later turn held the memory.
    /// </summary>
    [Fact]
    public async Task A_device_that_refuses_a_larger_batch_state_gets_the_idle_slots_kept_caches_back_first()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        int expected = 1;
        EngineStatistics? statistics = null;
        var options = new EngineOptions
        {
            Parallel = 3,
            // Hold the first step until both later requests are queued, so they decode together and the batch state
            // of two rows is asked for (one may be admitted alone first; the refusal comes at the step either way).
            BeforeDecodeStep = () =>
            {
                if (!SpinWait.SpinUntil(() => statistics!.Started >= Volatile.Read(ref expected), TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("requests were not queued");
                }
            },
        };
        using var engine = new InferenceEngine(model, tokenizer, options);
        statistics = engine.Statistics;
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..300], MaxTokens = 3 });
        // The batch state of two rows is refused once at its logits (2 rows × 512), as a device full of the kept cache would refuse it.
        device.RefusedLength = 2 * 512;
        device.RefusalsLeft = 1;
        Volatile.Write(ref expected, 3);
        CompletionResult[] both = await Task.WhenAll(
            engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 5 }),
            engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 5 })).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal([5, 5], both.Select(r => r.TokenIds.Count));
        Assert.Equal(1, device.Refused);
        Assert.Null(engine.Fault);
        // The first conversation's cache went: its next turn runs whole.
        Volatile.Write(ref expected, 4);
        await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..310], MaxTokens = 3 });
        Assert.Equal(0, engine.Statistics.CachedPromptTokens);
    }

    /// <summary>
    /// The host out of memory while a request is admitted ends the engine, as any failure outside one sequence does:
    /// that request hears the error (it waited forever once), and later ones are refused naming it.
    /// </summary>
    [Fact]
    public async Task The_host_out_of_memory_at_admission_fails_that_request_and_ends_the_engine()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K), new EngineOptions { Parallel = 1 });
        device.RefusedLength = 256 * 32; // a layer's keys for the 256 positions a request of max_tokens 256 reserves
        device.AsHost = true;
        Task<CompletionResult> refused = engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 256 });
        await Assert.ThrowsAsync<OutOfMemoryException>(() => refused.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.IsType<OutOfMemoryException>(engine.Fault);
        var later = await Assert.ThrowsAsync<InvalidOperationException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 5 }));
        Assert.Contains("stopped decoding after an error", later.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An idle slot's state is memory no request uses: when the device refuses a cache that must grow, the idle
    /// slots' kept caches are given back and the request goes on. (A slot whose last prompt held no whole chunk keeps
    /// no cache at all once its request ends; before, it kept its first 256 positions, and only the slots that kept a
    /// prefix gave theirs back, so the request failed beside an idle cache.)
    /// </summary>
    [Fact]
    public async Task A_device_that_refuses_a_growing_cache_gets_every_idle_slots_state_back_first()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        InferenceEngine? running = null;
        // The first decode step waits for the second request, so the two run at once and two slots are made.
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions
        {
            Parallel = 2,
            BeforeDecodeStep = () => SpinWait.SpinUntil(() => running!.Statistics.Started >= 2),
        });
        running = engine;
        int[] story = tokenizer.Encode(TextDataset.Load(TestData.Path("text", "tinystories", "eval.txt")));
        // Two prompts of a whole chunk and more, which the prefix cache keeps: 135 positions each (prompt and max_tokens).
        await Task.WhenAll(
            engine.CompleteAsync(new CompletionRequest { PromptIds = story[300..430], MaxTokens = 5 }),
            engine.CompleteAsync(new CompletionRequest { PromptIds = story[500..630], MaxTokens = 5 }));
        long idle = engine.KvCacheBytes;
        Assert.Equal(2 * 2L * model.Config.NumLayers * 135 * model.Config.KvDim * sizeof(float), idle);
        // A slot's cache grows at its prefill to the 270 positions its request reaches: refused once.
        device.RefusedLength = 270 * model.Config.KvDim;
        device.RefusalsLeft = 1;
        CompletionResult grown = await engine.CompleteAsync(new CompletionRequest { PromptIds = story[..250], MaxTokens = 20 });
        Assert.Equal(20, grown.TokenIds.Count);
        Assert.Equal(1, device.Refused);
        Assert.Null(engine.Fault);
        // The long prompt's slot keeps its grown cache for a next turn; the other slot holds none.
        Assert.Equal(2L * model.Config.NumLayers * 270 * model.Config.KvDim * sizeof(float), engine.KvCacheBytes);
    }

    /// <summary>
    /// The batch step's state grows as more sequences decode together; where the device refuses it (and the idle
    /// slots hold nothing to give back), the newest sequence, which the state held before cannot take, fails alone
    /// with the device's error, and the engine goes on. The refusal ended the engine for every request, and every
    /// later one, until a restart.
    /// </summary>
    [Fact]
    public async Task A_batch_state_the_device_cannot_grow_fails_the_newest_sequence_alone_and_the_engine_goes_on()
    {
        using var device = new KvRefusingDevice(refusedLength: -1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, device);
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        InferenceEngine? running = null;
        Task<CompletionResult>? second = null;
        // The second request arrives at the first decode step (one row), and joins the next one.
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions
        {
            Parallel = 2,
            BeforeDecodeStep = () => second ??= running!.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 8 }),
        });
        running = engine;
        // A two-row batch state's logits (2 × a vocabulary of 512) are refused; no other buffer has that length.
        device.RefusedLength = 2 * model.Config.VocabSize;
        Task<CompletionResult> first = engine.CompleteAsync(new CompletionRequest { Prompt = "Once upon a time", MaxTokens = 8 });
        Assert.Equal(8, (await first).TokenIds.Count);
        await Assert.ThrowsAsync<DeviceOutOfMemoryException>(() => second!);
        Assert.True(device.Refused > 0);
        Assert.Null(engine.Fault);
        Assert.Equal(8, (await engine.CompleteAsync(new CompletionRequest { Prompt = "One day", MaxTokens = 8 })).TokenIds.Count);
        Assert.Equal(engine.Statistics.Started, engine.Statistics.Completed + engine.Statistics.Failed);
    }

    /// <summary>
    /// The model is served under its folder's name however the folder is written: `copal serve -m .` in the model's
    /// folder served it as ".", a name a client would have to send as its model and that GET /v1/models/{id} cannot
    /// even reach (a URL's dot segments are removed).
    /// </summary>
    [Theory]
    [InlineData(".")]
    [InlineData("./")]
    [InlineData("../stories260K/.")]
    public void The_model_is_served_under_its_folders_name_however_the_path_is_written(string path)
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(Path.Combine(TestData.Stories260K, path), backend, new EngineOptions { Parallel = 1 });
        Assert.Equal("stories260K", engine.ModelId);
    }

    /// <summary>The CPU backend refusing, as a full device would, every buffer of one length.</summary>
    private sealed class KvRefusingDevice(long refusedLength) : CpuBackend(1), IBackend
    {
        public int Refused { get; private set; }

        /// <summary>The length refused; -1 for none.</summary>
        public long RefusedLength { get; set; } = refusedLength;

        /// <summary>Refuses as the host does (OutOfMemoryException) instead of as a device.</summary>
        public bool AsHost { get; set; }

        /// <summary>Refusals left before the length is allowed again; -1: refused every time.</summary>
        public int RefusalsLeft { get; set; } = -1;

        DeviceBuffer IBackend.Allocate(long length)
        {
            if (length == RefusedLength && RefusalsLeft != 0)
            {
                RefusalsLeft = Math.Max(-1, RefusalsLeft - 1);
                Refused++;
                if (AsHost)
                {
                    throw new OutOfMemoryException("test host is out of memory");
                }
                throw new DeviceOutOfMemoryException("test device is out of memory: no room for a KV cache of 512 positions");
            }
            return Allocate(length);
        }
    }
}
