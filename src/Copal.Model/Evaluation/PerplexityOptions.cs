namespace Copal.Model.Evaluation;

/// <summary>
/// The pruning literature's perplexity protocol: non-overlapping windows of <see cref="SeqLen"/> tokens cut from
/// the whole tokenized text, remainder dropped, every token after the first of a window predicted.
/// </summary>
public sealed record PerplexityOptions(int SeqLen)
{
    /// <summary>Evaluate at most this many windows (null: all).</summary>
    public int? LimitChunks { get; init; }

    /// <summary>Windows advance by this many tokens; null means SeqLen (non-overlapping, the standard).</summary>
    public int? Stride { get; init; }
}

/// <summary>Progress of a perplexity run: windows done of total, and the running perplexity.</summary>
public readonly record struct PerplexityProgress(int ChunksDone, int ChunksTotal, double RunningPerplexity);

/// <summary>The outcome of a perplexity run.</summary>
public sealed record PerplexityResult(
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
public sealed record ComparisonResult(double MeanKl, double KlP99, double MaxKl, double Top1Agreement, double BasePerplexity);
