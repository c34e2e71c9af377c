using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Weights;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal compact</c> and <c>copal densify</c>: a pruned checkpoint to the compact sparse layout and back.</summary>
internal static class CompactCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "Model folder to compact (a pruned dense checkpoint)";
        var positional = PositionalModel();
        var outDir = new Option<string>("--out", "-o") { Description = "Output model folder", Required = true }.Folder();
        var format = SparseOptions.Format();
        var force = new Option<bool>("--force") { Description = "Replace a non-empty --out folder" };
        var json = CommonOptions.Json();
        var command = new Command("compact", "Store the sparse linear weights of a pruned model compactly (smaller file, sparse kernels at load)")
        {
            model, positional, outDir, format, force, json,
        };
        command.SetBody((p, ct) =>
        {
            (string given, string typed) = CommonOptions.ModelOrArgument(p, model, positional);
            string input = Inputs.ModelFolder(given, typed);
            CompactFormat f = SparseOptions.ParseFormat(p.GetValue(format)!);
            bool asJson = p.GetValue(json);
            using var progress = new StagedProgressLine("compact", quiet: asJson);
            CompactReport report = CheckpointCompactor.Compact(input, p.GetValue(outDir)!, f, p.GetValue(force), progress, ct);
            progress.Done();
            Report(report, "compact", p.GetValue(outDir)!, asJson);
            ModelWithoutTokenizer.WarnIfAbsent(input, p.GetValue(outDir)!);
            return CliErrors.Ok;
        });
        return command;
    }

    public static Command CreateDensify()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "Compact model folder";
        var positional = PositionalModel();
        var outDir = new Option<string>("--out", "-o") { Description = "Output model folder", Required = true }.Folder();
        var force = new Option<bool>("--force") { Description = "Replace a non-empty --out folder" };
        var json = CommonOptions.Json();
        var command = new Command("densify", "Write a compact model back as a plain dense Hugging Face checkpoint (the exact weights; a removed −0 comes back as +0)")
        {
            model, positional, outDir, force, json,
        };
        command.SetBody((p, ct) =>
        {
            (string given, string typed) = CommonOptions.ModelOrArgument(p, model, positional);
            string input = Inputs.ModelFolder(given, typed);
            bool asJson = p.GetValue(json);
            using var progress = new StagedProgressLine("densify", quiet: asJson);
            CompactReport report = CheckpointCompactor.Densify(input, p.GetValue(outDir)!, p.GetValue(force), progress, ct);
            progress.Done();
            Report(report, "densify", p.GetValue(outDir)!, asJson);
            ModelWithoutTokenizer.WarnIfAbsent(input, p.GetValue(outDir)!);
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>The older positional form of the model (an alias of -m/--model).</summary>
    private static Argument<string?> PositionalModel() => CommonOptions.PositionalModel("The model folder, as -m/--model (the older form)");

    internal static void Report(CompactReport report, string verb, string outDir, bool asJson)
    {
        if (asJson)
        {
            Out.Json(report);
            return;
        }
        // Sizes compared the way round a person asks: how big the compact file is next to the dense one.
        bool toDense = verb == "densify";
        long dense = toDense ? report.OutputBytes : report.InputBytes;
        long compact = toDense ? report.InputBytes : report.OutputBytes;
        double share = dense > 0 ? (double)compact / dense : 1;
        string sizes = toDense
            ? $"the compact file was {share * 100:F1} % of the dense size"
            : $"{share * 100:F1} % of the dense size ({Math.Abs(1 - share) * 100:F1} % {(share <= 1 ? "smaller" : "larger")})";
        Out.Line($"copal {verb}: {Plural.Of(report.SparseLinears, "sparse linear")}, {ByteSize.Format(report.InputBytes)} → {ByteSize.Format(report.OutputBytes)}: {sizes}; wrote {outDir}");
        if (report.NegativeZeros > 0)
        {
            Out.Line($"copal {verb}: {report.NegativeZeros} removed weights were −0; densify gives them back as +0 (the same value, another sign bit), every other byte exactly");
        }
    }
}
