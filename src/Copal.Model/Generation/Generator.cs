using System.Diagnostics;
using Copal.Model.Inference;
using Copal.Tensors;

namespace Copal.Model.Generation;

/// <summary>Why generation stopped.</summary>
public enum StopReason
{
    /// <summary>The model chose one of the stop ids (end of sequence); that token is not in the result.</summary>
    EndOfSequence,
    /// <summary>The requested number of new tokens was generated.</summary>
    MaxTokens,
    /// <summary>The prompt and generated tokens reached <see cref="Generator.ContextSize"/> or the model's context.</summary>
    ContextFull,

    /// <summary>
    /// Never returned: <see cref="Generator.Generate"/> throws <see cref="OperationCanceledException"/> when its token
    /// is cancelled (before, during or after the prefill), as every other Copal API does. The tokens chosen before
    /// the cancellation have already reached its onToken callback. Kept, with its value, so that code naming it
    /// still compiles and is told why.
    /// </summary>
    [Obsolete("Generator.Generate throws OperationCanceledException when cancelled and never returns StopReason.Cancelled; catch the exception instead.")]
    Cancelled,
}

/// <summary>What a generation produced and how fast.</summary>
/// <param name="PromptIds">The prompt's token ids, as given.</param>
/// <param name="GeneratedIds">The tokens generated, without the prompt and without a stop token.</param>
/// <param name="StopReason">Why generation ended.</param>
/// <param name="PrefillTime">Wall time of the prompt's forward pass and its first logits.</param>
/// <param name="DecodeTime">Wall time from the prefill's end to the last token, sampling included.</param>
/// <param name="DecodeSteps">
/// Forward passes after the prefill, each choosing one token: one for every generated token but the last, and one
/// more when a pass chose the stop token (that pass ran within <paramref name="DecodeTime"/> too).
/// </param>
public sealed record GenerationResult(
    IReadOnlyList<int> PromptIds,
    IReadOnlyList<int> GeneratedIds,
    StopReason StopReason,
    TimeSpan PrefillTime,
    TimeSpan DecodeTime,
    int DecodeSteps)
{
    /// <summary>Prompt tokens per second of the prefill; null when no prefill ran (nothing was asked for).</summary>
    public double? PrefillTokensPerSecond => PrefillTime.TotalSeconds > 0 ? PromptIds.Count / PrefillTime.TotalSeconds : null;

    /// <summary>
    /// Decode steps per second: <see cref="DecodeSteps"/> over <see cref="DecodeTime"/>, so a run ended by its stop
    /// token counts the step that chose it (the generated tokens after the first would leave that step's time with
    /// one token fewer). Null when there was no decode step, a rate that does not exist rather than a rate of 0.
    /// </summary>
    public double? DecodeTokensPerSecond => DecodeSteps > 0 && DecodeTime.TotalSeconds > 0 ? DecodeSteps / DecodeTime.TotalSeconds : null;

    /// <summary>The positions the run could hold: the prompt plus the tokens asked for, at most <see cref="Generator.ContextSize"/> or the model's context.</summary>
    public int ContextSize { get; init; }

    /// <summary>
    /// Bytes of the run's KV cache at its end: f32 keys and values of every layer for the positions it grew to hold
    /// (a sliding-window layer's at most two windows and a prompt chunk).
    /// </summary>
    public long KvCacheBytes { get; init; }

    /// <summary>
    /// The runtime's JIT compilation time (every thread's) within <see cref="PrefillTime"/>: on a first call, the
    /// forward pass compiling. Nothing compiled before the prefill's clock started or after it stopped is in it.
    /// </summary>
    public TimeSpan PrefillJitTime { get; init; }

    /// <summary>
    /// The runtime's JIT compilation time within <see cref="DecodeTime"/>: on a first call, the one-row decode path and
    /// the sampler compiling, which a short run's decode rate carries.
    /// </summary>
    public TimeSpan DecodeJitTime { get; init; }
}

/// <summary>
/// Autoregressive generation: one batched prefill of the prompt, then token-by-token decode with the KV cache.
/// Tokens are streamed to a callback as they are chosen.
/// </summary>
public sealed class Generator
{
    /// <summary>The logits of the ids a tokenizer of <paramref name="decodable"/> tokens can turn into text: the padded rows past it are left out.</summary>
    internal static Span<float> Decodable(Span<float> logits, int? decodable) =>
        decodable is int n && n > 0 && n < logits.Length ? logits[..n] : logits;

    /// <summary>Prompt tokens per prefill chunk (the run's activation rows): a cancellation stops the prefill within one chunk.</summary>
    internal const int PrefillRows = 512;

    private readonly LlamaModel _model;

    /// <summary>A generator over <paramref name="model"/>, which stays the caller's; each <see cref="Generate"/> allocates and frees its own KV cache.</summary>
    /// <exception cref="ObjectDisposedException"><paramref name="model"/> was disposed.</exception>
    public Generator(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        _model = model;
    }

    /// <summary>
    /// The most positions (prompt plus generated tokens) a run may hold, as llama.cpp's --ctx-size; generation stops
    /// with <see cref="StopReason.ContextFull"/> there. Null (default): the model's context. The KV cache holds
    /// min(this, prompt + tokens asked for) positions, never the model's whole context for its own sake.
    /// </summary>
    public int? ContextSize { get; init; }

    /// <summary>
    /// Ids at or beyond this are never chosen: the tokenizer's size, where the model's vocabulary is padded beyond it
    /// (Qwen2's 151,936 embedding rows for 151,665 tokens). Those rows map to no text, and sampling could pick one.
    /// Null (default): every id of the model's vocabulary.
    /// </summary>
    public int? DecodableTokens { get; init; }

    /// <summary>
    /// The process's JIT compilation time so far (<see cref="System.Runtime.JitInfo.GetCompilationTime"/>); tests give
    /// a counter of their own, so which phase a compilation is counted in can be checked without a clock.
    /// </summary>
    internal Func<TimeSpan> CompilationTime { get; init; } = () => System.Runtime.JitInfo.GetCompilationTime();

    /// <summary>
    /// Hears the count of prompt tokens run after each prefill chunk, the last report the whole prompt: a long prompt
    /// is seconds of work (2,000 tokens of a 1.1B model) before the first token, which a caller can show. Null: none.
    /// </summary>
    public IProgress<int>? PrefillProgress { get; init; }

    /// <summary>New tokens the KV cache has room for at the start of a generation; it doubles as the text grows past them.</summary>
    internal const int InitialNewTokens = 256;

    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> tokens after <paramref name="prompt"/>, stopping early at any
    /// of <paramref name="stopIds"/> (which are not emitted) or when the context is full.
    /// </summary>
    /// <remarks>
    /// Cancelling <paramref name="cancellationToken"/> throws <see cref="OperationCanceledException"/>: checked before
    /// any work, between the prefill's chunks of up to 512 prompt tokens and before every decode step, so a cancelled
    /// run stops within one chunk or one token. Tokens already chosen have reached <paramref name="onToken"/>; that
    /// callback is the way to keep a partial reply.
    /// </remarks>
    public GenerationResult Generate(
        IReadOnlyList<int> prompt,
        int maxNewTokens,
        SamplingOptions sampling,
        IReadOnlySet<int> stopIds,
        Action<int>? onToken = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(sampling);
        ArgumentNullException.ThrowIfNull(stopIds);
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        int modelContext = _model.Config.MaxPositionEmbeddings;
        if (prompt.Count == 0)
        {
            throw new ArgumentException("the prompt has no tokens (a model needs at least BOS to start from)", nameof(prompt));
        }
        if (DecodableTokens is int decodable && decodable < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(DecodableTokens), decodable, "the decodable tokens must be at least 1 (null: every id of the model's vocabulary)");
        }
        if (ContextSize is int asked && (asked < 1 || asked > modelContext))
        {
            throw new ArgumentOutOfRangeException(nameof(ContextSize), asked, $"the context size must be between 1 and the model's context of {modelContext} positions (max_position_embeddings)");
        }
        // Every id before any work: the forward pass checks each chunk as it comes, so an id past the first chunk would be
        // found only after that chunk ran, under the name of the pass's parameter, not this one's.
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < prompt.Count; i++)
        {
            if ((uint)prompt[i] >= (uint)vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(prompt), prompt[i], $"prompt[{i}] is token id {prompt[i]}, outside the model's vocabulary [0, {vocab})");
            }
        }
        int limit = ContextSize ?? modelContext;
        if (prompt.Count > limit)
        {
            throw new ArgumentException(ContextSize is null
                ? $"the prompt has {prompt.Count} tokens, more than the model's context of {limit} (max_position_embeddings)"
                : $"the prompt has {prompt.Count} tokens, more than the context size of {limit}", nameof(prompt));
        }
        // The run never holds more than the prompt and the tokens asked for, whatever the limit. maxNewTokens is a
        // bound, not a forecast (int.MaxValue reads "until end of text"): the cache starts at the prompt and a few
        // hundred tokens and grows with the tokens generated, not with what might be.
        int context = (int)Math.Min(limit, (long)prompt.Count + maxNewTokens);
        int reserve = (int)Math.Min(context, (long)prompt.Count + Math.Min(maxNewTokens, InitialNewTokens));
        cancellationToken.ThrowIfCancellationRequested();
        var sampler = new Sampler(sampling);
        var all = new List<int>(prompt);
        var generated = new List<int>();
        using RunState state = _model.CreateState(maxRows: Math.Min(prompt.Count, PrefillRows), maxPositions: context, reservePositions: reserve);

        TimeSpan jitAtStart = CompilationTime();
        var clock = Stopwatch.StartNew();
        // The prompt runs in chunks of PrefillRows, the token checked before each (and between its layers) and the
        // progress told after each; only the last chunk's logits are kept, as one Forward over the prompt would.
        int[] promptIds = all.ToArray();
        for (int done = 0; done < promptIds.Length;)
        {
            int rows = Math.Min(PrefillRows, promptIds.Length - done);
            _model.Forward(state, promptIds.AsSpan(done, rows), done, done + rows == promptIds.Length ? LogitsMode.Last : LogitsMode.None, cancellationToken: cancellationToken);
            done += rows;
            PrefillProgress?.Report(done);
        }
        float[] logits = _model.ReadLogits(state);
        NonFiniteLogitsException.ThrowIfAny(logits, logits.Length, _ => $"after the prefill of {Plural.Of(prompt.Count, "prompt token")}");
        if (state.Rows > 1)
        {
            // Decode steps run one row: the prompt chunks' rows (up to 512, 99 MiB at LLaMA-7B) go back now, not at
            // the reply's end; the next step allocates its row (RunState.EnsureRows).
            state.ReleaseRows();
        }
        TimeSpan prefill = clock.Elapsed;
        TimeSpan jitAtPrefillEnd = CompilationTime();
        clock.Restart();

        StopReason reason = StopReason.MaxTokens;
        int[] one = new int[1];
        int decodeSteps = 0;
        while (generated.Count < maxNewTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int next = sampler.Sample(Decodable(logits, DecodableTokens), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(all));
            if (stopIds.Contains(next))
            {
                reason = StopReason.EndOfSequence;
                break;
            }
            generated.Add(next);
            all.Add(next);
            onToken?.Invoke(next);
            if (generated.Count == maxNewTokens)
            {
                break;
            }
            if (all.Count >= context)
            {
                reason = StopReason.ContextFull;
                break;
            }
            one[0] = next;
            _model.Forward(state, one, all.Count - 1, LogitsMode.Last, cancellationToken: cancellationToken);
            decodeSteps++;
            _model.ReadLogits(state, logits);
            NonFiniteLogitsException.ThrowIfAny(logits, logits.Length, _ => $"at decode step {generated.Count} (position {all.Count - 1})");
        }
        TimeSpan decode = clock.Elapsed;
        return new GenerationResult(prompt.ToArray(), generated, reason, prefill, decode, decodeSteps)
        {
            PrefillJitTime = jitAtPrefillEnd - jitAtStart,
            DecodeJitTime = CompilationTime() - jitAtPrefillEnd,
            ContextSize = context,
            KvCacheBytes = state.KvCacheBytes,
        };
    }
}
