using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Tokenization;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal tokenize</c> and <c>copal detokenize</c>.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new Option<string>("--text", "-t") { Description = "Text to tokenize" };
        var file = new Option<string>("--file", "-f") { Description = "UTF-8 file to tokenize (- reads standard input)" }.Path();
        var noSpecial = new Option<bool>("--no-special") { Description = "Do not add BOS/EOS (the post-processor's special tokens)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also print each token's string" };
        var json = CommonOptions.Json();
        var command = new Command("tokenize", "Turn text into token ids with the model's tokenizer.json") { model, text, file, noSpecial, verbose, json };
        command.SetBody((p, ct) =>
        {
            if ((p.GetValue(text) is null) == (p.GetValue(file) is null))
            {
                throw new UsageException("give exactly one of --text or --file");
            }
            string directory = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            string input = ReadInput(p.GetValue(text), p.GetValue(file), p.Typed(file), ct);
            CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(directory);
            int[] ids;
            using (var progress = new TokenizingProgressLine(p.GetValue(file) is string f ? Inputs.Describe(f) : "--text", quiet: p.GetValue(json)))
            {
                ids = tokenizer.Encode(input, addSpecialTokens: !p.GetValue(noSpecial), progress, ct);
                progress.Done();
            }
            // Cancelled while the text was read or tokenized: no output (the signal's exit code instead).
            ct.ThrowIfCancellationRequested();
            if (p.GetValue(json))
            {
                Out.Json(new { count = ids.Length, ids, tokens = p.GetValue(verbose) ? ids.Select(tokenizer.IdToToken).ToArray() : null });
                return CliErrors.Ok;
            }
            if (p.GetValue(verbose))
            {
                foreach (int id in ids)
                {
                    Out.Line($"{id,8}  {Out.Quote(tokenizer.IdToToken(id))}");
                }
            }
            else
            {
                WriteIds(Console.Out, ids);
            }
            // Not after the notice that the run stops for a reader gone (exit 141): the ids were not read.
            if (!StandardOutput.WasCutShort())
            {
                Out.Info(Plural.Of(ids.Length, "token"));
            }
            return CliErrors.Ok;
        });
        return command;
    }

    public static Command CreateDetokenize()
    {
        var model = CommonOptions.Model();
        var ids = new Option<string>("--ids") { Description = $"The {IdsExpected} (- reads them from standard input)", Required = true };
        var keepSpecial = new Option<bool>("--keep-special") { Description = "Keep special tokens such as <s> in the text" };
        var json = CommonOptions.Json();
        var command = new Command("detokenize", "Turn token ids back into text") { model, ids, keepSpecial, json };
        command.SetBody((p, ct) =>
        {
            CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model)));
            string idText = p.GetValue(ids)!;
            if (Inputs.IsStdio(idText))
            {
                idText = Utf8Text.DecodeStrict(Inputs.ReadBytes(idText, p.Typed(ids), ct), "standard input");
            }
            int[] parsed = ParseIds(idText, tokenizer.VocabSize);
            string text = tokenizer.Decode(parsed, skipSpecialTokens: !p.GetValue(keepSpecial));
            ct.ThrowIfCancellationRequested();
            if (p.GetValue(json))
            {
                Out.Json(new { text });
            }
            else
            {
                Out.Line(text);
            }
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>Ids written into a line a block at a time, separated by spaces: the ids of a long file are never one string.</summary>
    internal static void WriteIds(TextWriter writer, ReadOnlySpan<int> ids)
    {
        const int BlockIds = 4096;
        var line = new System.Text.StringBuilder();
        for (int first = 0; first < ids.Length; first += BlockIds)
        {
            line.Clear();
            foreach (int id in ids.Slice(first, Math.Min(BlockIds, ids.Length - first)))
            {
                line.Append(line.Length == 0 && first == 0 ? "" : " ").Append(id);
            }
            writer.Write(line);
        }
        writer.WriteLine();
    }

    private static string ReadInput(string? text, string? file, string typedFile, CancellationToken cancellationToken)
    {
        if (text is not null)
        {
            return text;
        }
        return Utf8Text.DecodeStrict(Inputs.ReadBytes(file!, typedFile, cancellationToken), Inputs.Describe(file!));
    }

    private const string IdsExpected = "token ids separated by spaces or commas";

    /// <summary>
    /// Ids separated by whitespace or commas. Between two commas there must be an id: "1,,2" is a slip (as in every
    /// other comma list of the CLI), not the two ids it would quietly give. Read in place, item by item: the ids of a
    /// long text (55 MB for 11.5 million) made a string each, and detokenize peaked at 1.3 GB.
    /// </summary>
    internal static int[] ParseIds(string text, int vocab)
    {
        ReadOnlySpan<char> all = text;
        if (!all.IsWhiteSpace())
        {
            int comma = 0;
            foreach (Range piece in all.Split(','))
            {
                if (all[piece].Trim(Blanks).IsEmpty)
                {
                    throw new UsageException($"--ids: comma {Math.Max(comma, 1)} has no id {(comma == 0 ? "before" : "after")} it; expected {IdsExpected}");
                }
                comma++;
            }
        }
        int count = 0;
        foreach (Range item in all.SplitAny(Separators))
        {
            count += all[item].IsEmpty ? 0 : 1;
        }
        var ids = new int[count];
        int i = 0;
        foreach (Range item in all.SplitAny(Separators))
        {
            ReadOnlySpan<char> part = all[item];
            if (part.IsEmpty)
            {
                continue;
            }
            if (!int.TryParse(part, out ids[i]) || ids[i] < 0 || ids[i] >= vocab)
            {
                throw new UsageException($"--ids: {Shown(part.ToString())} (item {i + 1}) is not a token id in [0, {vocab})");
            }
            i++;
        }
        return ids;
    }

    private const string Blanks = " \t\n\r";

    private const string Separators = Blanks + ",";

    /// <summary>The most characters of a bad item that its message quotes.</summary>
    private const int MaxShown = 20;

    /// <summary>
    /// A bad item as its message quotes it: standard input may be binary or one long word, so control characters are
    /// escaped and the item is cut after <see cref="MaxShown"/> characters, keeping the error one short line.
    /// </summary>
    private static string Shown(string item)
    {
        int cut = item.Length <= MaxShown ? item.Length : char.IsHighSurrogate(item[MaxShown - 1]) ? MaxShown - 1 : MaxShown;
        string quoted = Out.Quote(item[..cut]);
        return $"'{quoted[1..^1]}{(cut < item.Length ? $"…' ({item.Length} characters)" : "'")}";
    }
}
