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
    /// <summary>Rows of logits the host reads at once: 32 MB for a 128k vocabulary.</summary>
    private const int BlockRows = 64;

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
            // A path of standard output (-o /dev/stdout) is written as standard output, as -o - is (StandardOutput.IsNamedBy).
            bool toStandardOutput = Inputs.IsStdio(path) || StandardOutput.IsNamedBy(path);
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // A row has vocab_size logits: more best entries than that cannot be written (config.json says, before the weights load).
            int vocabSize = LlamaConfig.Load(modelDir).VocabSize;
            if (k > vocabSize)
            {
                throw new UsageException($"{p.Typed(topK)}: expected at most the model's vocabulary of {vocabSize} tokens, got {k}");
            }
            if (!toStandardOutput)
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
            // The document is written as its rows are computed, a block of positions at a time, as a long prompt's
            // prefill runs anyway: memory holds BlockRows × vocab logits, never every position's (full logits of 2,400
            // tokens of a 128k vocabulary are 1.2 GB as floats and several times that as JSON text).
            void Write(TextWriter writer)
            {
                JsonSerializerOptions json = Out.CompactJsonOptions;
                writer.Write($"{{\"ids\":{JsonSerializer.Serialize(ids, json)},\"tokens\":{JsonSerializer.Serialize(ids.Select(session.Tokenizer.IdToToken), json)}," +
                    $"\"vocab\":{vocab},\"top_k\":{k},\"logits\":[");
                int blockRows = Math.Min(ids.Length, BlockRows);
                using RunState state = session.Model.CreateState(blockRows, ids.Length, allRowLogits: true);
                var block = new float[(long)blockRows * vocab];
                using var rowWriter = new LogitsRowWriter(writer);
                for (int first = 0; first < ids.Length; first += blockRows)
                {
                    int rows = Math.Min(blockRows, ids.Length - first);
                    session.Model.Forward(state, ids.AsSpan(first, rows), first, LogitsMode.All, cancellationToken: ct);
                    Span<float> logits = block.AsSpan(0, rows * vocab);
                    session.Model.ReadLogits(state, logits);
                    NonFiniteLogitsException.ThrowIfAny(logits, vocab, row => $"at position {first + row}");
                    for (int r = 0; r < rows; r++)
                    {
                        ReadOnlySpan<float> row = logits.Slice(r * vocab, vocab);
                        writer.Write(first + r == 0 ? "" : ",");
                        rowWriter.Write(row, k);
                    }
                }
                writer.Write("]}");
            }
            if (toStandardOutput)
            {
                // Standard output is written as it comes too: a failure part way ends the run with its error and exit
                // code after an unfinished document.
                Write(Console.Out);
                Console.Out.WriteLine();
                // Not after the notice that the run stops for a reader gone (exit 141), as tokenize's count: no one read it.
                if (!StandardOutput.WasCutShort())
                {
                    Out.Info($"copal: wrote {Plural.Of(ids.Length, "position")} to standard output");
                }
                return CliErrors.Ok;
            }
            AtomicFile.WriteText(path, "--out", Write);
            Out.Info($"copal: wrote {Plural.Of(ids.Length, "position")} to {path}");
            return CliErrors.Ok;
        });
        return command;
    }
}
