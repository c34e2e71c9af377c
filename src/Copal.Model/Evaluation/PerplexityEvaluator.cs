using System.Diagnostics;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Tensors.Backends;

namespace Copal.Model.Evaluation;

/// <summary>
/// Computes perplexity = exp(mean NLL over all predicted tokens) with the windowing of <see cref="PerplexityOptions"/>,
/// optionally against a base model for KL divergence and top-1 agreement.
/// </summary>
internal static class PerplexityEvaluator
{
    /// <summary>Rows of logits the host reads at once: 32 MB for a 128k vocabulary.</summary>
    private const int DownloadRows = 64;

    /// <summary>
    /// Evaluates <paramref name="model"/> on <paramref name="tokens"/> (the whole text, tokenized once).
    /// With <paramref name="baseModel"/>, the same windows also run through it and are compared.
    /// </summary>
    public static PerplexityResult Evaluate(
        LlamaModel model,
        ReadOnlySpan<int> tokens,
        PerplexityOptions options,
        LlamaModel? baseModel = null,
        IProgress<PerplexityProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        int seqLen = options.SeqLen;
        int max = model.Config.MaxPositionEmbeddings;
        if (seqLen < 2 || seqLen > max)
        {
            throw new ArgumentOutOfRangeException(nameof(options), seqLen, FormattableString.Invariant($"options.SeqLen must be between 2 and the model's context of {max} tokens, got {seqLen}"));
        }
        int stride = options.Stride ?? seqLen;
        if (stride < 1 || stride > seqLen)
        {
            throw new ArgumentOutOfRangeException(nameof(options), stride, FormattableString.Invariant($"options.Stride must be between 1 and options.SeqLen ({seqLen}), got {stride}"));
        }
        if (baseModel is not null && baseModel.Config.VocabSize != model.Config.VocabSize)
        {
            throw new ArgumentException($"baseModel's vocabulary has {baseModel.Config.VocabSize} tokens and the model's {model.Config.VocabSize}: a comparison needs the same vocabulary", nameof(baseModel));
        }
        if (baseModel is not null && seqLen > baseModel.Config.MaxPositionEmbeddings)
        {
            // Named here, before any work: the base state's allocation would refuse it naming only maxPositions.
            throw new ArgumentOutOfRangeException(nameof(baseModel), FormattableString.Invariant(
                $"options.SeqLen {seqLen} exceeds baseModel's context of {baseModel.Config.MaxPositionEmbeddings} tokens (max_position_embeddings): a comparison runs each window through both models"));
        }
        int chunks = tokens.Length < seqLen ? 0 : (tokens.Length - seqLen) / stride + 1;
        if (chunks == 0)
        {
            throw new ArgumentException($"the text has {tokens.Length} tokens, fewer than one window of options.SeqLen {seqLen}", nameof(tokens));
        }
        if (options.LimitChunks is int limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, "options.LimitChunks");
            chunks = Math.Min(chunks, limit);
        }

        var clock = Stopwatch.StartNew();
        int vocab = model.Config.VocabSize;
        using RunState state = model.CreateState(seqLen, seqLen);
        using RunState? baseState = baseModel?.CreateState(seqLen, seqLen);
        // The window's logits are computed a block of rows at a time from its last hidden states (LlamaModel.HeadRows),
        // so the backend and the host hold DownloadRows × vocab floats, not the window's (1 GB for a window of 2,048
        // over a 128k vocabulary, on each side, and twice with a base model).
        int blockRows = Math.Min(seqLen, DownloadRows);
        using DeviceBuffer blockOnDevice = model.Backend.Allocate((long)blockRows * vocab);
        using DeviceBuffer? baseBlockOnDevice = baseModel?.Backend.Allocate((long)blockRows * vocab);
        var logits = new float[(long)blockRows * vocab];
        float[]? baseLogits = baseModel is null ? null : new float[logits.Length];
        double nllSum = 0, baseNllSum = 0;
        long predicted = 0;
        var kls = new List<double>();
        long agree = 0;

        for (int c = 0; c < chunks; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ReadOnlySpan<int> window = tokens.Slice(c * stride, seqLen);
            model.Forward(state, window, 0, LogitsMode.None, cancellationToken: cancellationToken);
            baseModel?.Forward(baseState!, window, 0, LogitsMode.None, cancellationToken: cancellationToken);
            // With a stride below seqLen only the tokens new to this window count, as the sliding-window protocol does.
            int firstTarget = c == 0 || stride == seqLen ? 1 : seqLen - stride;
            for (int first = 0; first < seqLen; first += blockRows)
            {
                int rows = Math.Min(blockRows, seqLen - first);
                Span<float> block = logits.AsSpan(0, rows * vocab);
                model.HeadRows(state, first, rows, blockOnDevice);
                model.Backend.Download(blockOnDevice, block);
                NonFiniteLogitsException.ThrowIfAny(block, vocab, row => $"in window {c + 1} of {chunks} (position {first + row})");
                if (baseModel is not null)
                {
                    baseModel.HeadRows(baseState!, first, rows, baseBlockOnDevice!);
                    baseModel.Backend.Download(baseBlockOnDevice!, baseLogits.AsSpan(0, rows * vocab));
                    NonFiniteLogitsException.ThrowIfAny(baseLogits.AsSpan(0, rows * vocab), vocab, row => $"of the base model in window {c + 1} of {chunks} (position {first + row})");
                }
                // Row r of the block predicts token first + r + 1.
                for (int t = Math.Max(firstTarget, first + 1); t <= first + rows && t < seqLen; t++)
                {
                    ReadOnlySpan<float> row = logits.AsSpan((t - 1 - first) * vocab, vocab);
                    nllSum += LogProbabilities.Nll(row, window[t]);
                    predicted++;
                    if (baseLogits is not null)
                    {
                        ReadOnlySpan<float> baseRow = baseLogits.AsSpan((t - 1 - first) * vocab, vocab);
                        baseNllSum += LogProbabilities.Nll(baseRow, window[t]);
                        kls.Add(LogProbabilities.KlDivergence(baseRow, row));
                        if (Sampler.ArgMax(baseRow) == Sampler.ArgMax(row))
                        {
                            agree++;
                        }
                    }
                }
            }
            progress?.Report(new PerplexityProgress(c + 1, chunks, Math.Exp(nllSum / predicted)));
        }

        double meanNll = nllSum / predicted;
        ComparisonResult? comparison = null;
        if (baseModel is not null)
        {
            kls.Sort();
            comparison = new ComparisonResult(
                kls.Average(),
                kls[Math.Min(kls.Count - 1, (int)Math.Ceiling(0.99 * kls.Count) - 1)],
                kls[^1],
                (double)agree / predicted,
                Math.Exp(baseNllSum / predicted));
        }
        return new PerplexityResult(Math.Exp(meanNll), meanNll, predicted, chunks, seqLen, tokens.Length, clock.Elapsed)
        {
            Comparison = comparison,
        };
    }
}
