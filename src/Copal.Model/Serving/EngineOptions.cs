namespace Copal.Model.Serving;

/// <summary>How an <see cref="InferenceEngine"/> runs.</summary>
public sealed record EngineOptions
{
    /// <summary>
    /// Sequences decoded together (slots): each step is one pass over the weights for up to this many tokens; more
    /// requests wait in the queue. Default 1: no batching, one sequence at a time (copal serve passes its --parallel,
    /// default 4). Each slot holds its own KV cache, which grows up to <see cref="ContextSize"/>. A bound, not a
    /// reservation: a slot is made when a request finds none free.
    /// </summary>
    public int Parallel { get; init; } = 1;

    /// <summary>Positions one sequence may hold (prompt plus generated); null: the model's context. Each slot's KV cache grows up to this.</summary>
    public int? ContextSize { get; init; }

    /// <summary>
    /// Ids at or beyond this are never chosen (<see cref="Generation.Generator.DecodableTokens"/>); null: the
    /// tokenizer's size, so a vocabulary padded beyond it never yields an id without text.
    /// </summary>
    public int? DecodableTokens { get; init; }

    /// <summary>
    /// A finished request's slot keeps its KV cache, and a later prompt that begins with the same tokens (the next turn
    /// of a chat, a shared system prompt) runs only what follows them. Only whole prefill chunks of the earlier prompt
    /// are reused (<see cref="BatchScheduler.PrefillRows"/> tokens each, from position 0), the part that a fresh
    /// prefill would compute in the same chunks, so a reply is the same to the bit with or without the reuse. The idle
    /// slots hold their caches (at most <see cref="Parallel"/> of them, each as long as the longest request its slot
    /// served since the cache was last given back: a cache that keeps a prefix does not shrink); false gives
    /// a grown cache back when its request ends and runs every prompt whole (but for the copies of a prompt admitted
    /// with the same one, <see cref="EngineStatistics.SharedPromptTokens"/>, which share its prefill either way).
    /// </summary>
    public bool PrefixCache { get; init; } = true;

    /// <summary>Test hook: runs on the scheduler thread before every decode step.</summary>
    internal Action? BeforeDecodeStep { get; init; }

    /// <summary>
    /// Test hook: runs on the scheduler thread before each admission reads the queue. Holding it until every request
    /// of a round is queued admits them together, which holding the decode step does not: the first admission may
    /// read the first request alone before the others are queued.
    /// </summary>
    internal Action? BeforeAdmission { get; init; }
}

/// <summary>Counters of an engine, updated as it runs (read them at any time).</summary>
public sealed class EngineStatistics
{
    internal long RequestsStarted;
    internal long RequestsCompleted;
    internal long RequestsCancelled;
    internal long RequestsFailed;
    internal long DecodeSteps;
    internal long BatchedRows;
    internal long TokensGenerated;
    internal long PromptTokensRun;
    internal long PromptTokensCopied;
    internal long PromptTokensReused;
    internal volatile int ActiveSequences;
    internal int PeakBatchRows;
    internal long PeakKvBytes;

    /// <summary>Sequences submitted.</summary>
    public long Started => Interlocked.Read(ref RequestsStarted);

    /// <summary>Sequences that ended by themselves: end of sequence, a stop text, max tokens or the context.</summary>
    public long Completed => Interlocked.Read(ref RequestsCompleted);

    /// <summary>Sequences ended by their caller's cancellation (a client that went away), before they finished.</summary>
    public long Cancelled => Interlocked.Read(ref RequestsCancelled);

    /// <summary>
    /// Sequences that failed: a request that left no token to choose, non-finite logits in its row, a KV cache the
    /// device could not hold, or the engine's stop. <see cref="Started"/> is <see cref="Completed"/> +
    /// <see cref="Cancelled"/> + <see cref="Failed"/> once none is queued or running.
    /// </summary>
    public long Failed => Interlocked.Read(ref RequestsFailed);

    /// <summary>Batched decode steps run (one forward pass each).</summary>
    public long Steps => Interlocked.Read(ref DecodeSteps);

    /// <summary>Rows decoded over all steps: <see cref="Rows"/> / <see cref="Steps"/> is the mean batch size.</summary>
    public long Rows => Interlocked.Read(ref BatchedRows);

    /// <summary>Tokens generated (prefill's first tokens included).</summary>
    public long Tokens => Interlocked.Read(ref TokensGenerated);

    /// <summary>Prompt tokens run through a prefill.</summary>
    public long PromptTokens => Interlocked.Read(ref PromptTokensRun);

    /// <summary>
    /// Prompt tokens whose KV cache was copied from another sequence's prefill of the same prompt, admitted with it (the
    /// choices of one prompt), instead of run again.
    /// </summary>
    public long SharedPromptTokens => Interlocked.Read(ref PromptTokensCopied);

    /// <summary>
    /// Prompt tokens whose KV cache an idle slot still held from an earlier request with the same beginning
    /// (<see cref="EngineOptions.PrefixCache"/>), instead of run again.
    /// </summary>
    public long CachedPromptTokens => Interlocked.Read(ref PromptTokensReused);

    /// <summary>Sequences in the batch now.</summary>
    public int Active => ActiveSequences;

    /// <summary>The largest batch a step has run.</summary>
    public int PeakBatch => Volatile.Read(ref PeakBatchRows);

    /// <summary>
    /// The most bytes the slots' KV caches have held at once, taken after each prefill and decode step (without
    /// <see cref="EngineOptions.PrefixCache"/> a slot gives a grown cache back when its request ends, so
    /// <see cref="InferenceEngine.KvCacheBytes"/> afterwards is the idle size).
    /// </summary>
    public long PeakKvCacheBytes => Interlocked.Read(ref PeakKvBytes);
}
