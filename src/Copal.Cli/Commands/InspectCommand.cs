using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal inspect PATH</c>: tensors, dtypes, shapes, parameter count and the config summary.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "A model folder or a .safetensors file";
        var path = new Argument<string?>("path") { Description = "The model, as -m/--model (the older form)", Arity = ArgumentArity.ZeroOrOne, Hidden = true };
        var json = CommonOptions.Json();
        var command = new Command("inspect", "List a checkpoint's tensors, parameter count and config") { model, path, json };
        command.SetBody((p, _) =>
        {
            string target = CommonOptions.ModelOrArgument(p, model, path).Path;
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(target);
            LlamaConfig? config = null;
            string? configError = null;
            string? dir = Directory.Exists(target) ? target : Path.GetDirectoryName(Path.GetFullPath(target));
            if (dir is not null && File.Exists(Path.Combine(dir, "config.json")))
            {
                try
                {
                    config = LlamaConfig.Load(dir);
                }
                catch (ModelConfigException e)
                {
                    configError = e.Message;
                }
            }
            CheckpointSummary summary = CheckpointSummary.From(checkpoint);
            var tensors = summary.Tensors.Select(t => new TensorInfo(t.Name, t.DType.ToSafetensorsName(), t.Shape, t.ElementCount, t.ByteLength)).ToList();
            long parameters = summary.ParameterCount;
            var bytesByDtype = summary.ByDType.ToDictionary(kv => kv.Key.ToSafetensorsName(), kv => kv.Value.Bytes);
            var result = new InspectResult(target, checkpoint.Files.Count, tensors.Count, parameters, bytesByDtype, checkpoint.Metadata, config?.ToString(), configError, tensors);
            if (p.GetValue(json))
            {
                Out.Json(result);
                return CliErrors.Ok;
            }
            int nameWidth = Math.Min(64, tensors.Count == 0 ? 4 : tensors.Max(t => t.Name.Length));
            foreach (TensorInfo t in tensors)
            {
                Out.Line($"{t.Name.PadRight(nameWidth)}  {t.Dtype,-5} [{string.Join(", ", t.Shape)}]");
            }
            Out.Line("");
            Out.Line($"{tensors.Count} tensors in {checkpoint.Files.Count} file(s), {parameters:N0} parameters ({FormatCount(parameters)}), {string.Join(", ", bytesByDtype.Select(kv => $"{kv.Key}: {kv.Value / 1048576.0:F1} MiB"))}");
            if (checkpoint.Metadata.Count > 0)
            {
                Out.Line($"metadata: {string.Join(", ", checkpoint.Metadata.Select(kv => $"{kv.Key}={kv.Value}"))}");
            }
            Out.Line(config is not null ? $"config: {config}" : configError is not null ? $"config: {configError}" : "config: (no config.json beside the weights)");
            return CliErrors.Ok;
        });
        return command;
    }

    private static string FormatCount(long n) => n switch
    {
        >= 1_000_000_000 => $"{n / 1e9:F2}B",
        >= 1_000_000 => $"{n / 1e6:F1}M",
        >= 1_000 => $"{n / 1e3:F1}K",
        _ => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private sealed record TensorInfo(string Name, string Dtype, long[] Shape, long Elements, long Bytes);

    private sealed record InspectResult(
        string Path, int Files, int TensorCount, long Parameters, Dictionary<string, long> BytesByDtype,
        IReadOnlyDictionary<string, string> Metadata, string? Config, string? ConfigError, List<TensorInfo> Tensors);
}
