namespace Copal.Model.Generation;

/// <summary>
/// How the next token is chosen. First the logits change: the logit bias, HF's repetition penalty, OpenAI's presence
/// and frequency penalties (vLLM's order). Temperature 0 is then greedy (argmax). Otherwise, in HF's order: temperature, top-k,
/// top-p, min-p, then a draw from the seeded generator.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>
    /// Divides the logits before the softmax: below 1 sharper, above 1 flatter. 0 (default) is greedy: the argmax,
    /// ignoring <see cref="TopK"/>, <see cref="TopP"/> and <see cref="Seed"/> (the repetition penalty still applies).
    /// Finite, ≥ 0.
    /// </summary>
    public float Temperature { get; init; }
    /// <summary>Keep only the k most likely tokens, exactly k (equal ones by the lower id, where HF keeps all tied with the k-th); 0 keeps all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability mass reaches p; 1 keeps all.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>
    /// Keep only the tokens at least this many times as likely as the likeliest (HF's and vLLM's min_p); 0 keeps all.
    /// In [0, 1].
    /// </summary>
    public float MinP { get; init; }
    /// <summary>HF's CTRL-style penalty on tokens already in the context; 1 disables it.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>
    /// OpenAI's presence penalty: subtracted once from the logit of every token the reply already holds (positive
    /// values steer to new tokens, negative ones back to used ones); 0 disables it. Finite.
    /// </summary>
    public float PresencePenalty { get; init; }
    /// <summary>
    /// OpenAI's frequency penalty: subtracted from a token's logit once per time the reply already holds it; 0
    /// disables it. Finite.
    /// </summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>
    /// Added to the logits of the tokens named (OpenAI's logit_bias: −100 bans a token, 100 all but forces it), before
    /// greedy or sampled choice alike. Every id must be one the model can choose; every value finite. Null or empty:
    /// none.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>Seed of the draws (<see cref="Pcg32"/>): the same seed, options and logits choose the same tokens on every run. Default 0.</summary>
    public ulong Seed { get; init; }

    /// <summary>The defaults: temperature 0, so always the most likely token, with no repetition penalty.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>Throws naming the option when a value is out of range.</summary>
    public void Validate()
    {
        // One line each, in the library's names (CopalChatClient's and the engine's callers meet these; the CLI and the
        // server check their own options first).
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), FormattableString.Invariant($"SamplingOptions.Temperature must be a finite number ≥ 0 (0 is greedy), got {Temperature}"));
        }
        if (TopK < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), FormattableString.Invariant($"SamplingOptions.TopK must be ≥ 0 (0 disables it), got {TopK}"));
        }
        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), FormattableString.Invariant($"SamplingOptions.TopP must be in (0, 1], got {TopP}"));
        }
        if (!(MinP >= 0 && MinP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(MinP), FormattableString.Invariant($"SamplingOptions.MinP must be in [0, 1] (0 disables it), got {MinP}"));
        }
        if (!float.IsFinite(PresencePenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(PresencePenalty), FormattableString.Invariant($"SamplingOptions.PresencePenalty must be a finite number (0 is none), got {PresencePenalty}"));
        }
        if (!float.IsFinite(FrequencyPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), FormattableString.Invariant($"SamplingOptions.FrequencyPenalty must be a finite number (0 is none), got {FrequencyPenalty}"));
        }
        foreach ((int token, float bias) in LogitBias ?? new Dictionary<int, float>())
        {
            if (token < 0 || !float.IsFinite(bias))
            {
                throw new ArgumentOutOfRangeException(nameof(LogitBias), FormattableString.Invariant($"SamplingOptions.LogitBias must map token ids ≥ 0 to finite numbers, got {token}: {bias}"));
            }
        }
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), FormattableString.Invariant($"SamplingOptions.RepetitionPenalty must be a finite number > 0 (1 is none), got {RepetitionPenalty}"));
        }
    }
}
