using System.CommandLine;
using System.Text.Json;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Tensors.IO;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal logits</c>: per-position logits (or top-k log-probabilities) as JSON, for comparison with other implementations.</summary>
internal static class LogitsCommand
{

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new Option<string>("--text", "-t") { Description = "Text to run (BOS is added as the tokenizer does)", Required = true };
        var outFile = new Option<string>("--out", "-o") { Description = "JSON file to write (- writes standard output)", Required = true }.Path();
        var topK = new Option<int>("--top-k") { Description = "Write only the k best log-probabilities per position (0 = full logits)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var device = CommonOptions.Device();
        var allowNonFinite = CommonOptions.AllowNonFinite();
        var mmap = CommonOptions.Mmap("on");
        var command = new Command("logits", "Write the logits of every position of a text to JSON") { model, text, outFile, topK, device, allowNonFinite, mmap };
        command.SetBody((p, ct) =>
        {
            int k = p.GetValue(topK);
            string path = p.GetValue(outFile)!;
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // A row has vocab_size logits: more best entries than that cannot be written (config.json says, before the weights load).
            int vocabSize = LlamaConfig.Load(modelDir).VocabSize;
            if (k > vocabSize)
            {
                throw new UsageException($"{p.Typed(topK)}: expected at most the model's vocabulary of {vocabSize} tokens, got {k}");
            }
            if (!Inputs.IsStdio(path))
            {
                PathGuard.RequireApart(path, "--out", modelDir, "the input folder");
                AtomicFile.Prepare(path, "--out");
            }
            using ModelSession session = ModelSession.Open(modelDir, p.GetValue(device)!, allowNonFinite: p.GetValue(allowNonFinite),
                residence: CommonOptions.ParseMmap(p.GetValue(mmap)!), cancellationToken: ct);
            int[] ids = session.Encode(p.GetValue(text)!, addSpecialTokens: true, "--text");
            int context = session.Model.Config.MaxPositionEmbeddings;
            if (ids.Length == 0 || ids.Length > context)
            {
                throw new UsageException($"the text is {ids.Length} tokens; it must be between 1 and the model's context of {context}");
            }
            int vocab = session.Model.Config.VocabSize;
            using RunState state = session.Model.CreateState(ids.Length, ids.Length, allRowLogits: true);
            session.Model.Forward(state, ids, 0, LogitsMode.All, cancellationToken: ct);
            float[] logits = session.Model.ReadLogits(state, ids.Length);
            NonFiniteLogitsException.ThrowIfAny(logits, vocab, row => $"at position {row}");
            var positions = new List<object>(ids.Length);
            for (int t = 0; t < ids.Length; t++)
            {
                ReadOnlySpan<float> row = logits.AsSpan(t * vocab, vocab);
                if (k == 0)
                {
                    positions.Add(row.ToArray());
                }
                else
                {
                    double lse = LogProbabilities.LogSumExp(row);
                    float[] copy = row.ToArray();
                    positions.Add(Enumerable.Range(0, vocab).OrderByDescending(i => copy[i]).ThenBy(i => i).Take(k)
                        .Select(i => new { id = i, logprob = copy[i] - lse }).ToArray());
                }
            }
            string document = JsonSerializer.Serialize(new { ids, tokens = ids.Select(session.Tokenizer.IdToToken), vocab, top_k = k, logits = positions }, Out.CompactJsonOptions);
            if (Inputs.IsStdio(path))
            {
                Out.Line(document);
                Out.Info($"copal: wrote {Plural.Of(ids.Length, "position")} to standard output");
                return CliErrors.Ok;
            }
            AtomicFile.WriteAllText(path, "--out", document);
            Out.Info($"copal: wrote {Plural.Of(ids.Length, "position")} to {path}");
            return CliErrors.Ok;
        });
        return command;
    }
}
