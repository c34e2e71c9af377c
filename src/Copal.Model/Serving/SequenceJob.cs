using System.Threading.Channels;
using Copal.Model.Generation;
using Copal.Model.Generation.Constraints;

namespace Copal.Model.Serving;

/// <summary>A token the scheduler chose, and when (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): the reader may wake much later.</summary>
/// <remarks>
/// <paramref name="Logprobs"/>: its log-probabilities, when the request asked for them. <paramref name="EndsSequence"/>:
/// an end-of-sequence token, sent (last) only for its log-probabilities.
/// </remarks>
internal readonly record struct ChosenToken(int Id, long Timestamp, ChosenLogprobs? Logprobs, bool EndsSequence = false);

/// <summary>One sequence to generate: the token-level request the scheduler runs, and the stream of its tokens.</summary>
internal sealed class SequenceJob(int[] promptIds, int maxNewTokens, int contextLimit, SamplingOptions sampling, IReadOnlySet<int> stopIds, int? topLogprobs,
    bool scorePrompt, CancellationToken cancellationToken)
{
    public int[] PromptIds { get; } = promptIds;
    public int MaxNewTokens { get; } = maxNewTokens;
    /// <summary>Positions the sequence may hold: prompt plus generated tokens.</summary>
    public int ContextLimit { get; } = contextLimit;
    public SamplingOptions Sampling { get; } = sampling;
    public IReadOnlySet<int> StopIds { get; } = stopIds;
    /// <summary>Alternatives to report beside each token's log-probability; null: no log-probabilities.</summary>
    public int? TopLogprobs { get; } = topLogprobs;
    /// <summary>Whether the prompt's log-probabilities are wanted (<see cref="TopLogprobs"/> is then set).</summary>
    public bool ScoresPrompt { get; } = scorePrompt;
    /// <summary>The prompt's log-probabilities, when wanted: set by the prefill, before any token is written or the job ends.</summary>
    public PromptLogprobs? PromptLogprobs { get; set; }
    /// <summary>Prompt tokens the prefill did not run (found in the slot's kept cache, or all, copied from a twin); set as <see cref="PromptLogprobs"/> is.</summary>
    public int CachedPromptTokens { get; set; }
    public CancellationToken CancellationToken { get; } = cancellationToken;
    /// <summary>The mask and automaton of JSON mode or of a JSON schema, when the request asks for one; null for any text.</summary>
    public IDecodingConstraint? Constraint { get; init; }
    /// <summary>The request's stop texts as the decoding thread watches them, when it has any; used by that thread only.</summary>
    public StopTextWatch? StopTexts { get; init; }
    public Channel<ChosenToken> Tokens { get; } = Channel.CreateUnbounded<ChosenToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    /// <summary>Why it ended by itself; set before <see cref="Tokens"/> completes.</summary>
    public StopReason StopReason { get; private set; }

    /// <summary>Its caller's token ended it before it finished; set before <see cref="Tokens"/> completes.</summary>
    public bool Cancelled { get; private set; }

    public void Finish(StopReason reason)
    {
        StopReason = reason;
        Tokens.Writer.TryComplete();
    }

    public void Cancel()
    {
        Cancelled = true;
        Tokens.Writer.TryComplete();
    }

    public void Fail(Exception e) => Tokens.Writer.TryComplete(e);

    private volatile bool _stopRequested;

    /// <summary>The reader has what it wants (a stop text): end the sequence at the next step, as finished, not cancelled.</summary>
    public void RequestStop() => _stopRequested = true;

    public bool StopRequested => _stopRequested;
}
