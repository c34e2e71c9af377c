namespace Copal.Model.Evaluation;

/// <summary>
/// The pruning literature's perplexity protocol: non-overlapping windows of <see cref="SeqLen"/> tokens cut from
/// the whole tokenized text, remainder dropped, every token after the first of a window predicted.
/// </summary>
/// <param name="SeqLen">Tokens per window: from 2 to the model's context.</param>
internal sealed record PerplexityOptions(int SeqLen)
{
    /// <summary>Evaluate at most this many windows (null: all).</summary>
    public int? LimitChunks { get; init; }

    /// <summary>Windows advance by this many tokens; null means SeqLen (non-overlapping, the standard).</summary>
    public int? Stride { get; init; }
}

/// <summary>Progress of a perplexity run: windows done of total, and the running perplexity.</summary>
/// <param name="ChunksDone">Windows evaluated so far, from 1.</param>
/// <param name="ChunksTotal">Windows the run evaluates.</param>
/// <param name="RunningPerplexity">The perplexity over the windows done so far.</param>
internal readonly record struct PerplexityProgress(int ChunksDone, int ChunksTotal, double RunningPerplexity);

/// <summary>The outcome of a perplexity run.</summary>
/// <param name="Perplexity">exp(<paramref name="MeanNll"/>).</param>
/// <param name="MeanNll">Mean negative log-likelihood per predicted token, in nats.</param>
/// <param name="PredictedTokens">Tokens scored over all windows.</param>
/// <param name="Chunks">Windows evaluated (after <see cref="PerplexityOptions.LimitChunks"/>).</param>
/// <param name="SeqLen">Tokens per window.</param>
/// <param name="TextTokens">Tokens in the whole text, evaluated or not.</param>
/// <param name="Elapsed">Wall time of the run, the base model's windows included.</param>
internal sealed record PerplexityResult(
    double Perplexity,
    double MeanNll,
    long PredictedTokens,
    int Chunks,
    int SeqLen,
    long TextTokens,
    TimeSpan Elapsed)
{
    /// <summary>Against a base model (<c>--compare</c>): KL divergence and top-1 agreement; null otherwise.</summary>
    public ComparisonResult? Comparison { get; init; }
}

/// <summary>
/// How a model's predictive distribution differs from its base's over the same tokens (as llama.cpp's perplexity
/// tool reports): mean KL(base ‖ model) per token, its 99th percentile and maximum, how often both pick the same
/// top-1 token, and the base's perplexity.
/// </summary>
/// <param name="MeanKl">Mean KL(base ‖ model) per predicted token, in nats.</param>
/// <param name="KlP99">The 99th percentile of the per-token KL.</param>
/// <param name="MaxKl">The largest per-token KL.</param>
/// <param name="Top1Agreement">Fraction of predicted tokens, 0 to 1, where both models' argmax is the same token.</param>
/// <param name="BasePerplexity">The base model's perplexity on the same tokens.</param>
internal sealed record ComparisonResult(double MeanKl, double KlP99, double MaxKl, double Top1Agreement, double BasePerplexity);
