using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal perplexity</c>: the pruning literature's protocol (tokenize once, non-overlapping windows, remainder
/// dropped), optionally with KL divergence and top-1 agreement against a base model.
/// </summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = new Option<string>("--data", "-d") { Description = "Text file to evaluate on (- reads standard input)", Required = true }.Path();
        var seqLen = new Option<int?>("--seqlen") { Description = "Window length in tokens (default: min(2048, the model's context))" }.AtLeast(2);
        var stride = new Option<int?>("--stride") { Description = "Window step in tokens, at most --seqlen (default: --seqlen, non-overlapping); with a smaller step each window after the first scores only its last --stride tokens, the ones no earlier window scored" }.AtLeast(1);
        var limit = new Option<int?>("--limit-chunks") { Description = "Evaluate only the first K windows (default: all)" }.AtLeast(1);
        var layout = new Option<TextLayout>("--layout") { Description = "raw: the file as is; joined-lines: stripped lines joined by spaces (PTB); documents: <|endoftext|>-separated stories, each with BOS (TinyStories)" }
            .Names();
        var compare = new Option<string?>("--compare") { Description = "Base (dense) model folder: also report KL divergence and top-1 agreement against it" }.InputFolder("a model folder");
        var ctxSize = ContextSizeOption.Create();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var sparse = SparseOptions.LoadMode();
        var allowNonFinite = CommonOptions.AllowNonFinite();
        var mmap = CommonOptions.Mmap("on");
        var command = new Command("perplexity", "Perplexity on a text file, as pruning papers compute it")
        {
            model, data, seqLen, stride, limit, layout, compare, ctxSize, device, json, sparse, allowNonFinite, mmap,
        };
        command.SetBody((p, ct) =>
        {
            bool asJson = p.GetValue(json);
            string dataPath = p.GetValue(data)!;
            if (!Inputs.IsStdio(dataPath))
            {
                Inputs.TextFile(dataPath, p.Typed(data));
            }
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            string? basePath = p.GetValue(compare) is string given ? Inputs.ModelFolder(given, p.Typed(compare)) : null;
            // The window, the context and the base model's vocabulary are checked against config.json alone, before
            // the weights are loaded.
            LlamaConfig config = LlamaConfig.Load(modelDir);
            int max = config.MaxPositionEmbeddings;
            LlamaConfig? baseConfig = basePath is null ? null : LlamaConfig.Load(basePath);
            if (baseConfig?.VocabSize is int baseVocab && baseVocab != config.VocabSize)
            {
                throw new UsageException($"{p.Typed(compare)}: the base model '{p.GetValue(compare)}' has a vocabulary of {baseVocab} tokens, the model {config.VocabSize}; a comparison needs the same vocabulary");
            }
            // A window is the run's whole context: the KV cache holds --seqlen positions, whatever the model's context.
            int window = p.GetValue(seqLen) ?? Math.Min(2048, Math.Min(p.GetValue(ctxSize) ?? max, max));
            if (max < 2)
            {
                throw new ModelConfigException(Path.Combine(modelDir, "config.json"),
                    $"max_position_embeddings {max}: a perplexity window needs at least 2 positions (a token to predict and one before it)");
            }
            if (p.GetValue(stride) is int step && step > window)
            {
                throw new UsageException($"--stride: expected at most --seqlen ({window}), got {step}");
            }
            ContextSizeOption.Resolve(p.GetValue(ctxSize), window, window, max, bound => $"--seqlen {window} exceeds {bound}", p.Typed(ctxSize));
            if (baseConfig is not null && window > baseConfig.MaxPositionEmbeddings)
            {
                // Each window runs through the base model too: refused before either model loads, as its vocabulary is.
                throw new UsageException($"{p.Typed(compare)}: the base model '{p.GetValue(compare)}' has a context of {baseConfig.MaxPositionEmbeddings} positions (max_position_embeddings); --seqlen {window}"
                    + $"{(p.GetValue(seqLen) is null ? " (the default)" : "")} exceeds it");
            }
            using ModelSession session = ModelSession.Open(modelDir, p.GetValue(device)!, quiet: asJson, SparseOptions.ParseLoadMode(p.GetValue(sparse)!), p.GetValue(allowNonFinite),
                CommonOptions.ParseMmap(p.GetValue(mmap)!), ct);
            using ModelSession? baseSession = basePath is not null
                ? ModelSession.Open(basePath, p.GetValue(device)!, quiet: asJson, SparseOptions.ParseLoadMode(p.GetValue(sparse)!), p.GetValue(allowNonFinite),
                    CommonOptions.ParseMmap(p.GetValue(mmap)!), ct)
                : null;
            int[] tokens;
            try
            {
                using var tokenizing = new TokenizingProgressLine(Inputs.Describe(dataPath), quiet: asJson);
                tokens = Inputs.IsStdio(dataPath)
                    ? TextDataset.TokenizeText(session.Tokenizer, TextDataset.Decode(Inputs.ReadBytes(dataPath, p.Typed(data), ct), "standard input", p.GetValue(layout)), p.GetValue(layout), tokenizing, ct)
                    : TextDataset.Tokenize(session.Tokenizer, dataPath, p.GetValue(layout), tokenizing, ct);
                tokenizing.Done();
            }
            catch (InvalidDataException e)
            {
                // No text at all is the shortest text: a usage error naming the option, as a text shorter than a window is.
                throw new UsageException($"{p.Typed(data)}: {e.Message}; one window of --seqlen {window} needs at least {window} tokens");
            }
            session.RequireInVocabulary(tokens, $"{p.Typed(data)}'s text");
            if (tokens.Length < window)
            {
                // A value checked against the data, as prune's calibration text: a usage error naming the text and --seqlen.
                string source = Inputs.IsStdio(dataPath) ? "standard input" : $"text '{dataPath}'";
                throw new UsageException($"{p.Typed(data)}: {source} has {Plural.Of(tokens.Length, "token")}; one window of --seqlen {window}"
                    + $"{(p.GetValue(seqLen) is null ? " (the default)" : "")} needs at least {window}");
            }
            if (!asJson)
            {
                Out.Info($"copal: {tokens.Length:N0} tokens, windows of {window}");
            }
            var options = new PerplexityOptions(window) { LimitChunks = p.GetValue(limit), Stride = p.GetValue(stride) };
            using var progressLine = new ProgressLine(quiet: asJson);
            var progress = new SyncProgress<PerplexityProgress>(pr =>
                progressLine.Update($"perplexity {pr.RunningPerplexity:F4}", pr.ChunksDone, pr.ChunksTotal));
            PerplexityResult result;
            try
            {
                result = PerplexityEvaluator.Evaluate(session.Model, tokens, options, baseSession?.Model, progress, ct);
            }
            catch (DeviceOutOfMemoryException e) when (e.Remedy is null)
            {
                // Every buffer of the run (activations, KV cache, attention scratch) is sized to the window: the option
                // to lower is --seqlen, which the generic "a shorter context" does not name.
                throw e.WithShorter(p.Typed(seqLen), window);
            }
            progressLine.Done();
            if (asJson)
            {
                Out.Json(new
                {
                    model = p.GetValue(model),
                    data = p.GetValue(data),
                    ppl = result.Perplexity,
                    mean_nll = result.MeanNll,
                    tokens = result.TextTokens,
                    predicted_tokens = result.PredictedTokens,
                    chunks = result.Chunks,
                    seqlen = result.SeqLen,
                    seconds = result.Elapsed.TotalSeconds,
                    device = session.Backend.Info.Kind,
                    compare = result.Comparison is null ? null : new
                    {
                        base_model = p.GetValue(compare),
                        base_ppl = result.Comparison.BasePerplexity,
                        mean_kl = result.Comparison.MeanKl,
                        kl_p99 = result.Comparison.KlP99,
                        max_kl = result.Comparison.MaxKl,
                        top1_agreement = result.Comparison.Top1Agreement,
                    },
                });
            }
            else
            {
                Out.Line($"perplexity {result.Perplexity:F4} over {result.PredictedTokens:N0} predicted tokens ({Plural.Of(result.Chunks, "window")} of {result.SeqLen}) in {result.Elapsed.TotalSeconds:F1} s");
                if (result.Comparison is ComparisonResult c)
                {
                    Out.Line($"vs base: base perplexity {c.BasePerplexity:F4} (ratio {result.Perplexity / c.BasePerplexity:F4}), mean KL {c.MeanKl:F6}, KL p99 {c.KlP99:F6}, max KL {c.MaxKl:F6}, top-1 agreement {c.Top1Agreement:P2}");
                }
            }
            return CliErrors.Ok;
        });
        return command;
    }
}

/// <summary>An IProgress that reports synchronously on the caller's thread.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
