using System.Runtime.CompilerServices;
using Copal.Model.Generation;
using Copal.Model.Generation.Constraints;
using Copal.Model.Generation.Constraints.Schema;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Model.Serving;

/// <summary>
/// A loaded model serving completions to any number of callers: requests are queued and decoded together, up to
/// <see cref="EngineOptions.Parallel"/> at a time, each with its own KV cache and sampler (continuous batching: a new
/// request joins between decode steps). Greedy requests give the text <see cref="Generator"/> gives for them alone.
/// Thread-safe; dispose it to stop the decoding thread.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly BatchScheduler _scheduler;
    private readonly bool _ownsModel;
    private readonly HashSet<int> _stopIds;
    private volatile bool _disposed;

    /// <summary>Whether <see cref="Dispose"/> has stopped the engine (a chat client refuses one at once).</summary>
    internal bool IsDisposed => _disposed;

    /// <summary>Serves <paramref name="model"/>; the engine disposes it only if <paramref name="ownsModel"/>.</summary>
    /// <exception cref="ObjectDisposedException"><paramref name="model"/> was disposed.</exception>
    public InferenceEngine(LlamaModel model, CopalTokenizer tokenizer, EngineOptions? options = null, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        // Now, not at every request the engine would take and fail.
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        options ??= new EngineOptions();
        int modelContext = model.Config.MaxPositionEmbeddings;
        if (options.Parallel < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Parallel, FormattableString.Invariant($"parallel must be ≥ 1, got {options.Parallel}"));
        }
        if (options.ContextSize is int c && (c < 1 || c > modelContext))
        {
            throw new ArgumentOutOfRangeException(nameof(options), c, $"the context size must be between 1 and the model's context of {modelContext} positions (max_position_embeddings), got {c}");
        }
        if (options.DecodableTokens is int d && d < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), d, $"the decodable tokens must be at least 1 (null: the tokenizer's size), got {d}");
        }
        Model = model;
        Tokenizer = tokenizer;
        ContextSize = options.ContextSize ?? modelContext;
        Options = options with { ContextSize = ContextSize, DecodableTokens = options.DecodableTokens ?? tokenizer.VocabSize };
        _ownsModel = ownsModel;
        _stopIds = StopTokens.Of(model, tokenizer);
        ModelId = ServedName(model.Source);
        _scheduler = new BatchScheduler(model, Options, Statistics);
        // Not ExecutionAndPublication: a build that failed (out of memory) is tried again by the next JSON request, not kept.
        _jsonVocabulary = new(() => JsonVocabulary.Of(tokenizer, Options.DecodableTokens!.Value, _stopIds), LazyThreadSafetyMode.PublicationOnly);
    }

    // The trie of the tokens' bytes that JSON mode walks and its masks, built on first use (a 128k vocabulary takes a
    // fraction of a second).
    private readonly Lazy<JsonVocabulary> _jsonVocabulary;

    // The JSON schemas requests have given (structured outputs), compiled, with their masks.
    private readonly SchemaCache _schemas = new();

    /// <summary>
    /// Loads the model and tokenizer of <paramref name="directory"/> on <paramref name="backend"/> (compact sparse
    /// weights run on the sparse kernels). A server decodes for long, so on the CPU the weights are read into memory
    /// when they fit (<see cref="WeightResidence.Auto"/>): a slower load for faster decoding.
    /// </summary>
    public static InferenceEngine Load(string directory, IBackend backend, EngineOptions? options = null, SparseLoadMode sparse = SparseLoadMode.Auto,
        IProgress<LoadProgress>? progress = null, WeightResidence residence = WeightResidence.Auto, CancellationToken cancellationToken = default)
    {
        // Reading the weights into memory (Auto on the CPU) takes seconds per GB: the token is checked as they load.
        LlamaModel model = LlamaModel.Load(directory, backend, sparse, progress, residence: residence, cancellationToken: cancellationToken);
        try
        {
            return new InferenceEngine(model, CopalTokenizer.FromDirectory(directory), options, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The model served; disposed with the engine only when the engine owns it (<see cref="Load"/>, or ownsModel).</summary>
    public LlamaModel Model { get; }

    /// <summary>The model's tokenizer (encode, decode, special ids).</summary>
    public CopalTokenizer Tokenizer { get; }

    /// <summary>The options in force (ContextSize resolved).</summary>
    public EngineOptions Options { get; }

    /// <summary>The name the model is served under: its folder's name.</summary>
    public string ModelId { get; }

    /// <summary>
    /// The name of the folder <paramref name="source"/> names, however it is written: "." or "stories260K/." is the
    /// folder's own name, not ".", which a client would have to send as its model and a URL cannot hold.
    /// </summary>
    private static string ServedName(string source) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(Directory.Exists(source) ? Path.GetFullPath(source) : source));

    /// <summary>Positions one sequence may hold.</summary>
    public int ContextSize { get; }

    /// <summary>Token ids that end a sequence (config.json's eos_token_id and the tokenizer's EOS).</summary>
    public IReadOnlySet<int> StopTokenIds => _stopIds;

    /// <summary>Live counters of requests, decode steps and tokens, safe to read from any thread.</summary>
    public EngineStatistics Statistics { get; } = new();

    /// <summary>Bytes of the KV caches the slots hold now (each grows with its sequences, up to <see cref="ContextSize"/> positions).</summary>
    public long KvCacheBytes => _scheduler.KvCacheBytes;

    /// <summary>
    /// Bytes of the activation buffers and logits the slots and the batch step hold now: a slot's are the rows of its
    /// prompt chunks during its prefill, one row while it decodes, none while idle.
    /// </summary>
    public long ActivationBytes => _scheduler.ActivationBytes;

    /// <summary>
    /// The failure that ended the engine's decoding (a forward pass that threw), after which every request is
    /// refused with it; null while the engine decodes. A server's health check reports it.
    /// </summary>
    public Exception? Fault => _scheduler.Fault;

    /// <summary>Generates the whole completion.</summary>
    public async Task<CompletionResult> CompleteAsync(CompletionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        List<ChosenLogprobs>? logprobs = request.TopLogprobs is null ? null : [];
        PromptLogprobs? prompt = null;
        await foreach (CompletionChunk chunk in StreamAsync(request, cancellationToken).ConfigureAwait(false))
        {
            text.Append(chunk.Text);
            ids.AddRange(chunk.TokenIds);
            prompt ??= chunk.PromptLogprobs;
            if (chunk.Logprobs is ChosenLogprobs lp)
            {
                logprobs?.Add(lp);
            }
            if (chunk.FinishReason is FinishReason finish)
            {
                return new CompletionResult(text.ToString(), ids, finish, chunk.Usage!) { Logprobs = logprobs, PromptLogprobs = prompt };
            }
        }
        throw new InvalidOperationException("the completion stream ended without a finish reason");
    }

    /// <summary>
    /// Streams the completion chunk by chunk as tokens are chosen; the last chunk has the finish reason and usage.
    /// Cancelling <paramref name="cancellationToken"/>, or leaving the enumeration early, ends the generation at the
    /// next decode step and frees its slot.
    /// </summary>
    /// <exception cref="CompletionRequestException">A field of the request is out of range, or the prompt does not fit the context.</exception>
    public async IAsyncEnumerable<CompletionChunk> StreamAsync(CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        (int[] promptIds, SamplingOptions sampling) = Check(request, cancellationToken);
        if (request.MaxTokens == 0 && !request.ScorePrompt)
        {
            yield return new CompletionChunk("", []) { FinishReason = FinishReason.Length, Usage = new CompletionUsage(promptIds.Length, 0) };
            yield break;
        }
        int context = (int)Math.Min(ContextSize, (long)promptIds.Length + request.MaxTokens);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var job = new SequenceJob(promptIds, request.MaxTokens, context, sampling, _stopIds, request.TopLogprobs, request.ScorePrompt, linked.Token)
        {
            // The trie is built by the first JSON request, on its caller's thread: the decoding thread never waits for it.
            Constraint = request.ResponseFormat switch
            {
                ResponseFormat.JsonObject => new JsonObjectConstraint(_jsonVocabulary.Value),
                ResponseFormat.JsonSchema => new SchemaConstraint(_jsonVocabulary.Value, Schema(request)),
                _ => null,
            },
            StopTexts = request.Stop.Count == 0 ? null : new StopTextWatch(Decoder(request, promptIds), request.Stop),
        };
        _scheduler.Submit(job);
        // Built once the prefill has run (after the first token): it says how much of the prompt the cache held.
        var usage = (int generated) => new CompletionUsage(promptIds.Length, generated) { CachedPromptTokens = job.CachedPromptTokens };
        TokenDecoderStream decoder = Decoder(request, promptIds);
        var stops = new StopTextMatcher(request.Stop);
        int count = 0;
        // Characters handed out so far: with those held back as a possible stop text, where the next token's text starts.
        int released = 0;
        ChosenLogprobs? endLogprobs = null;
        bool stoppedByText = false;
        bool done = false;
        try
        {
            await foreach ((int id, long chosenAt, ChosenLogprobs? logprobs, bool endsSequence) in job.Tokens.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (endsSequence)
                {
                    // The end-of-sequence token, sent only for its log-probabilities: no text, not counted.
                    endLogprobs = logprobs;
                    continue;
                }
                // The reader checks the token only when it waits: tokens already chosen would still be handed out.
                cancellationToken.ThrowIfCancellationRequested();
                count++;
                int offset = released + stops.Held;
                string text = stops.Push(decoder.Push(id), out bool matched);
                released += text.Length;
                if (matched)
                {
                    job.RequestStop();
                    stoppedByText = true;
                    await AwaitEnd(job, cancellationToken).ConfigureAwait(false);
                    yield return new CompletionChunk(text, [id]) { FinishReason = FinishReason.Stop, Usage = usage(count), ChosenAt = chosenAt, Logprobs = logprobs, PromptLogprobs = count == 1 ? job.PromptLogprobs : null, TextOffset = offset };
                    done = true;
                    yield break;
                }
                yield return new CompletionChunk(text, [id]) { ChosenAt = chosenAt, Logprobs = logprobs, PromptLogprobs = count == 1 ? job.PromptLogprobs : null, TextOffset = offset };
            }
            done = true;
        }
        finally
        {
            if (!done && !stoppedByText)
            {
                // The caller went away or cancelled: end the sequence at the next step.
                await linked.CancelAsync().ConfigureAwait(false);
            }
        }
        if (job.Cancelled)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new OperationCanceledException("the generation was cancelled");
        }
        string tail = stops.Flush(decoder.Flush());
        FinishReason finish = job.StopReason == StopReason.EndOfSequence ? FinishReason.Stop : FinishReason.Length;
        // A job that generated nothing (max_tokens 0, or an end of sequence first) gives the prompt's on its only chunk.
        yield return new CompletionChunk(tail, []) { FinishReason = finish, Usage = usage(count), PromptLogprobs = count == 0 ? job.PromptLogprobs : null, Logprobs = endLogprobs, TextOffset = released + tail.Length };
    }

    // The scheduler ends a job whose text holds a stop text at the token that completed it (or, when only this reader
    // saw it, at its next step), after the rest of that round's work. The caller hears the answer once it has: the
    // slot given back and the request counted, as at an end-of-sequence token. Tokens chosen meanwhile are dropped, and
    // a failure after the stop text (the next step's) does not undo an answer already complete.
    private static async ValueTask AwaitEnd(SequenceJob job, CancellationToken cancellationToken)
    {
        try
        {
            while (await job.Tokens.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (job.Tokens.Reader.TryRead(out _))
                {
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
        }
    }

    // The text of a reply's tokens: after the prompt's when the reply continues it (echo), as a stop text may begin there.
    private TokenDecoderStream Decoder(CompletionRequest request, int[] promptIds)
    {
        TokenDecoderStream decoder = Tokenizer.CreateDecoderStream(skipSpecialTokens: true);
        if (request.ContinuesPrompt)
        {
            decoder.Prime(promptIds);
        }
        return decoder;
    }

    /// <summary>
    /// Checks <paramref name="request"/> as <see cref="StreamAsync"/> does and encodes its prompt, without running it:
    /// the same request with the prompt as token ids, which <see cref="StreamAsync"/> runs as it would the original
    /// (the ids are checked again, not encoded again). A caller that starts several requests together checks them all
    /// first, so that a bad one refuses the lot before any is decoded.
    /// </summary>
    /// <exception cref="CompletionRequestException">A field of the request is out of range, or the prompt does not fit the context.</exception>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while the prompt's text was encoded (checked before each word).</exception>
    public CompletionRequest Prepare(CompletionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        (int[] ids, _) = Check(request, cancellationToken);
        return request with { Prompt = null, PromptIds = new PreparedPromptIds(ids) };
    }

    /// <summary>
    /// Compiles <paramref name="request"/>'s JSON schema, if it has one, without encoding its prompt: for a caller that
    /// made the schema itself (a forced tool call's) and names the refusal for what it came from.
    /// </summary>
    /// <exception cref="CompletionRequestException">The schema holds a keyword the engine cannot hold a reply to (response_format).</exception>
    internal void CheckSchema(CompletionRequest request)
    {
        if (request.JsonSchema is not null)
        {
            Schema(request);
        }
    }

    // The request's schema, compiled (once per schema text: later requests find it with its masks).
    private SchemaMasks Schema(CompletionRequest request)
    {
        try
        {
            return _schemas.Get(request.JsonSchema!.Value, () => _jsonVocabulary.Value.Trie);
        }
        catch (SchemaNotSupportedException e)
        {
            throw new CompletionRequestException("response_format", $"response_format {e.Message}") { Unsupported = true };
        }
    }

    /// <summary>
    /// The checks of <see cref="Check"/> on every field but the prompt, which they leave unencoded: for a caller that
    /// builds requests from options of its own (the chat client) and names a refusal after the option it came from.
    /// </summary>
    /// <exception cref="CompletionRequestException">A field of the request is out of range.</exception>
    internal void CheckFields(CompletionRequest request)
    {
        if (request.MaxTokens < 0)
        {
            throw new CompletionRequestException("max_tokens", FormattableString.Invariant($"max_tokens must be ≥ 0, got {request.MaxTokens}"));
        }
        if (!(request.Temperature >= 0) || float.IsInfinity(request.Temperature))
        {
            throw new CompletionRequestException("temperature", FormattableString.Invariant($"temperature must be a finite number ≥ 0, got {request.Temperature}"));
        }
        if (!(request.TopP > 0 && request.TopP <= 1))
        {
            throw new CompletionRequestException("top_p", FormattableString.Invariant($"top_p must be in (0, 1], got {request.TopP}"));
        }
        if (request.TopK < 0)
        {
            throw new CompletionRequestException("top_k", FormattableString.Invariant($"top_k must be ≥ 0 (0 keeps every token), got {request.TopK}"));
        }
        if (!(request.RepetitionPenalty > 0) || float.IsInfinity(request.RepetitionPenalty))
        {
            throw new CompletionRequestException("repetition_penalty", FormattableString.Invariant($"repetition_penalty must be a finite number > 0 (1 is off), got {request.RepetitionPenalty}"));
        }
        if (!(request.MinP >= 0 && request.MinP <= 1))
        {
            throw new CompletionRequestException("min_p", FormattableString.Invariant($"min_p must be in [0, 1] (0 keeps every token), got {request.MinP}"));
        }
        foreach ((string name, float value) in new[] { ("presence_penalty", request.PresencePenalty), ("frequency_penalty", request.FrequencyPenalty) })
        {
            if (!float.IsFinite(value))
            {
                throw new CompletionRequestException(name, FormattableString.Invariant($"{name} must be a finite number (0 is off), got {value}"));
            }
        }
        foreach ((int token, float bias) in request.LogitBias ?? new Dictionary<int, float>())
        {
            // The ids the model may choose: a padded vocabulary's extra rows are never chosen, so a bias there is a mistake.
            if ((uint)token >= (uint)Options.DecodableTokens!.Value || !float.IsFinite(bias))
            {
                throw new CompletionRequestException("logit_bias", FormattableString.Invariant(
                    $"logit_bias must map token ids in [0, {Options.DecodableTokens.Value}) to finite numbers, got {token}: {bias}"));
            }
        }
        if (!Enum.IsDefined(request.ResponseFormat))
        {
            throw new CompletionRequestException("response_format", $"response_format must be Text, JsonObject or JsonSchema, got {request.ResponseFormat}");
        }
        if ((request.ResponseFormat == ResponseFormat.JsonSchema) != (request.JsonSchema is not null))
        {
            throw new CompletionRequestException("response_format", request.JsonSchema is null
                ? "response_format JsonSchema needs the schema (CompletionRequest.JsonSchema)"
                : $"CompletionRequest.JsonSchema is set but response_format is {request.ResponseFormat}; set it to JsonSchema");
        }
        if (request.ResponseFormat == ResponseFormat.JsonSchema)
        {
            Schema(request); // compiled now, so a schema it cannot hold to is refused before anything runs
        }
        if (request.ScorePrompt && request.TopLogprobs is null)
        {
            throw new CompletionRequestException("logprobs", "the prompt's log-probabilities need TopLogprobs (0 or more alternatives)");
        }
        if (request.TopLogprobs is < 0 or > CompletionRequest.MaxTopLogprobs)
        {
            throw new CompletionRequestException("top_logprobs", FormattableString.Invariant($"top_logprobs must be in 0..{CompletionRequest.MaxTopLogprobs}, got {request.TopLogprobs}"));
        }
        if (request.Stop is null)
        {
            throw new ArgumentNullException(nameof(request), $"{nameof(CompletionRequest)}.{nameof(CompletionRequest.Stop)} is null; expected a list of stop texts (empty for none)");
        }
        foreach (string s in request.Stop)
        {
            if (string.IsNullOrEmpty(s))
            {
                throw new CompletionRequestException("stop", s is null ? "a stop text must not be null" : "a stop text must not be empty");
            }
        }
    }

    // The token reaches the encode, which a long text keeps for seconds: a caller that goes away stops it within a word.
    private (int[] PromptIds, SamplingOptions Sampling) Check(CompletionRequest request, CancellationToken cancellationToken)
    {
        if ((request.Prompt is null) == (request.PromptIds is null))
        {
            throw new CompletionRequestException("prompt", "give the prompt as text or as token ids, exactly one of the two");
        }
        CheckFields(request);
        if (request.PromptIds is null && Tokenizer.MinTokenCount(request.Prompt!) is long least && least > ContextSize)
        {
            // Refused before encoding, which for a long run without spaces takes seconds to minutes (Tokenizer.MinTokenCount).
            throw new CompletionRequestException("prompt", $"the prompt has at least {least} tokens (from its length), more than the context of {ContextSize} positions")
            {
                ContextLengthExceeded = true,
            };
        }
        // A prepared prompt is shared by the requests made from it (a request's choices); a caller's list is copied.
        int[] ids = request.PromptIds is PreparedPromptIds prepared ? prepared.Ids
            : request.PromptIds?.ToArray() ?? Tokenizer.Encode(request.Prompt!, request.AddSpecialTokens, progress: null, cancellationToken);
        if (ids.Length == 0)
        {
            ids = Tokenizer.BosId is int bos ? [bos]
                : throw new CompletionRequestException("prompt", "the prompt is empty and the tokenizer has no BOS token to start from");
        }
        int vocab = Model.Config.VocabSize;
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)vocab)
            {
                // An id the engine's own tokenizer made from text: the tokenizer is another model's, not the text at fault.
                throw new CompletionRequestException("prompt", request.PromptIds is null && id < Tokenizer.VocabSize
                    ? $"the prompt's text holds the token '{Tokenizer.IdToToken(id)}' (id {id}), outside the model's vocabulary [0, {vocab}): "
                        + Tokenizer.WhyOutsideModel(id, "the engine's tokenizer")
                    : $"token id {id} is outside the vocabulary [0, {vocab})");
            }
        }
        if (ids.Length > ContextSize)
        {
            throw new CompletionRequestException("prompt", $"the prompt has {ids.Length} tokens, more than the context of {ContextSize} positions")
            {
                ContextLengthExceeded = true,
            };
        }
        // Greedy ignores top_p, top_k and min_p (OpenAI accepts top_p with temperature 0), so the sampler only sees
        // them when it draws. The penalties and the bias change the logits, so they apply to greedy decoding too.
        var sampling = new SamplingOptions
        {
            Temperature = request.Temperature,
            TopP = request.Temperature > 0 ? request.TopP : 1f,
            TopK = request.Temperature > 0 ? request.TopK : 0,
            MinP = request.Temperature > 0 ? request.MinP : 0f,
            RepetitionPenalty = request.RepetitionPenalty,
            PresencePenalty = request.PresencePenalty,
            FrequencyPenalty = request.FrequencyPenalty,
            LogitBias = request.LogitBias,
            Seed = request.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue),
        };
        return (ids, sampling);
    }

    /// <summary>Stops the decoding thread (requests in flight fail with <see cref="ObjectDisposedException"/>) and disposes the model if the engine owns it. Disposing again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _scheduler.Dispose();
        if (_ownsModel)
        {
            Model.Dispose();
        }
    }
}
