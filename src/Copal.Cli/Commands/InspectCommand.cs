using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal inspect PATH</c>: tensors, dtypes, shapes, parameter count and the config summary.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "A model folder or a .safetensors file";
        var path = CommonOptions.PositionalModel("The model, as -m/--model (the older form)");
        var json = CommonOptions.Json();
        var command = new Command("inspect", "List a checkpoint's tensors, parameter count and config (--json for all of its metadata)") { model, path, json };
        command.SetBody((p, ct) =>
        {
            (string target, string typed) = CommonOptions.ModelOrArgument(p, model, path);
            if (Directory.Exists(target))
            {
                Inputs.ModelFolder(target, typed); // a folder that cannot be read is said to be so
            }
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(target, cancellationToken: ct);
            LlamaConfig? config = null;
            string? configError = null;
            string? dir = Directory.Exists(target) ? target : Path.GetDirectoryName(Path.GetFullPath(target));
            // A config.json that is a folder is said to be one (LlamaConfig's message), not taken for an absent one.
            if (dir is not null && Path.Exists(Path.Combine(dir, "config.json")))
            {
                try
                {
                    config = LlamaConfig.Load(dir);
                    // As the load reads it: a Gemma 3 whose config names no dtype scales by its embedding's.
                    if (checkpoint.TryGet(LlamaTensorNames.Embedding, out TensorView embedding))
                    {
                        config = config.WithStoredDtype(embedding.DType);
                    }
                }
                catch (ModelConfigException e)
                {
                    configError = e.Message;
                }
            }
            CheckpointSummary summary = CheckpointSummary.From(checkpoint);
            var tensors = summary.Tensors.Select(t => new TensorInfo(t.Name, t.DType.ToSafetensorsName(), t.Shape, t.ElementCount, t.ByteLength)).ToList();
            // Tensors the model allows but never reads (a tied model's stored head) are listed, and are not its parameters.
            Dictionary<string, string>? notCounted = config is null ? null
                : UnusedTensors.AllowedButUnread(summary.Tensors.Select(t => t.Name), config).ToDictionary(u => u.Name, u => u.Why);
            notCounted = notCounted is { Count: > 0 } ? notCounted : null;
            long parameters = summary.ParameterCount - summary.Tensors.Where(t => notCounted?.ContainsKey(t.Name) == true).Sum(t => t.ElementCount);
            var bytesByDtype = summary.ByDType.ToDictionary(kv => kv.Key.ToSafetensorsName(), kv => kv.Value.Bytes);
            var result = new InspectResult(target, checkpoint.Files.Count, tensors.Count, parameters, summary.SparseWeights, summary.SparseWeights > 0 ? summary.SparseStoredValues : null,
                bytesByDtype, summary.Metadata, config?.ToString(), configError, notCounted, tensors);
            if (p.GetValue(json))
            {
                Out.Json(result);
                return CliErrors.Ok;
            }
            // Names and metadata come from the file: a line break or an escape sequence in one is shown escaped (--json has them as they are).
            int nameWidth = Math.Min(64, tensors.Count == 0 ? 4 : tensors.Max(t => OneLine.Of(t.Name).Length));
            foreach (TensorInfo t in tensors)
            {
                Out.Line($"{OneLine.Of(t.Name).PadRight(nameWidth)}  {t.Dtype,-5} [{string.Join(", ", t.Shape)}]");
            }
            Out.Line("");
            Out.Line($"{Plural.Of(tensors.Count, "tensor")} in {Plural.Of(checkpoint.Files.Count, "file")}, {parameters:N0} parameters ({Quantities.Count(parameters)}), {string.Join(", ", bytesByDtype.Select(kv => $"{kv.Key}: {ByteSize.Format(kv.Value)}"))}");
            if (notCounted is not null)
            {
                Out.Line($"not counted as parameters: {string.Join("; ", tensors.Where(t => notCounted.ContainsKey(t.Name)).Select(t => $"{t.Name} ({t.Elements:N0} values, {notCounted[t.Name]})"))}");
            }
            if (summary.SparseWeights > 0)
            {
                // The parameter count is the dense model's; say what the compact linears keep of theirs.
                Out.Line($"compact: {Plural.Of(summary.SparseWeights, "sparse linear")}, {summary.SparseStoredValues:N0} values kept (with their indices or masks) of their dense shapes' parameters");
            }
            if (summary.Metadata.Count > 0)
            {
                Out.Line(OneLine.Of($"metadata: {SummarizeMetadata(summary.Metadata)}"));
            }
            // A config.json that is not a model's is quoted in its error (an unknown architecture's name, as written).
            Out.Line(OneLine.Of(config is not null ? $"config: {config}" : configError is not null ? $"config: {configError}" : "config: (no config.json beside the weights)"));
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>
    /// The metadata on one readable line: short entries as key=value; the per-tensor layouts of a compact checkpoint
    /// (copal.sparse.*, one per linear) counted by format; long values cut. --json has every entry in full.
    /// </summary>
    internal static string SummarizeMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        const string SparsePrefix = "copal.sparse.";
        const int MaxValue = 72;
        var parts = new List<string>();
        var layouts = metadata.Where(kv => kv.Key.StartsWith(SparsePrefix, StringComparison.Ordinal)).Select(kv => kv.Value).ToList();
        foreach (var (key, value) in metadata.Where(kv => !kv.Key.StartsWith(SparsePrefix, StringComparison.Ordinal)))
        {
            parts.Add(value.Length <= MaxValue ? $"{key}={value}" : $"{key}={value[..MaxValue]}… ({value.Length} chars)");
        }
        if (layouts.Count > 0)
        {
            // A layout reads "format=nm;n=2;m=4;…" or "format=bitmask;…".
            var byFormat = layouts.GroupBy(v => LayoutFormat(v)).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}");
            parts.Add($"{layouts.Count} compact linears ({string.Join(", ", byFormat)})");
        }
        return $"{string.Join(", ", parts)}; {(metadata.Count == 1 ? "1 entry" : $"all {metadata.Count} entries")} with --json";
    }

    private static string LayoutFormat(string layout)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string[] f in layout.Split(';').Select(f => f.Split('=', 2)).Where(f => f.Length == 2))
        {
            fields.TryAdd(f[0], f[1]);
        }
        string format = fields.GetValueOrDefault("format", "unknown");
        return format == "nm" && fields.TryGetValue("n", out string? n) && fields.TryGetValue("m", out string? m) ? $"{n}:{m}" : format;
    }

    private sealed record TensorInfo(string Name, string Dtype, long[] Shape, long Elements, long Bytes);

    private sealed record InspectResult(
        string Path, int Files, int TensorCount, long Parameters, int SparseWeights, long? SparseStoredValues, Dictionary<string, long> BytesByDtype,
        IReadOnlyDictionary<string, string> Metadata, string? Config, string? ConfigError, Dictionary<string, string>? NotCounted, List<TensorInfo> Tensors);
}
