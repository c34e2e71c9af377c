using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Prune;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;

namespace Copal.Cli.Commands;

/// <summary><c>copal prune</c>: layer-sequential pruning with magnitude, Wanda or SparseGPT into a new HF model folder.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var outDir = new Option<string>("--out", "-o") { Description = "Output model folder (must not exist or be empty, unless --force)", Required = true };
        var method = new Option<string>("--method") { Description = "magnitude, wanda, sparsegpt or copal (continual; see --resume, --state)", DefaultValueFactory = _ => "wanda" };
        var sparsity = new Option<string?>("--sparsity") { Description = "Unstructured ratio in [0, 0.95], e.g. 0.5" };
        var pattern = new Option<string?>("--pattern") { Description = "N:M semi-structured pattern, e.g. 2:4 or 4:8" };
        var calib = new Option<string?>("--calib") { Description = "Calibration text file(s), comma-separated (not needed for magnitude)" };
        var nsamples = new Option<int>("--nsamples") { Description = "Calibration windows", DefaultValueFactory = _ => 128 };
        var seqlen = new Option<int?>("--seqlen") { Description = "Tokens per calibration window (default: min(2048, the model's context))" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the calibration window offsets", DefaultValueFactory = _ => 0UL };
        var trueSequential = new Option<bool>("--true-sequential") { Description = "Prune q,k,v → o → gate,up → down, re-collecting statistics between groups" };
        var noLayerError = new Option<bool>("--no-layer-error") { Description = "Skip measuring each layer's output error (saves one layer pass)" };
        var includeEmbeddings = new Option<bool>("--include-embeddings") { Description = "Also prune lm_head (by the method) and an untied embed_tokens (by magnitude); the literature leaves them dense" };
        var layerSet = new Option<string?>("--layers") { Description = "Prune only these decoder layers, e.g. 0-3,7 (default: all); the rest are copied" };
        var force = new Option<bool>("--force") { Description = "Replace a non-empty --out folder" };
        CopalCliOptions copal = CopalCliOptions.Create();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var compact = new Option<bool>("--compact") { Description = "Store the pruned linears compactly (as `copal compact --format auto`)" };
        var command = new Command("prune", "Prune every linear layer of the decoder layers and write a new model folder")
        {
            model, outDir, method, sparsity, pattern, calib, nsamples, seqlen, seed, trueSequential, noLayerError, layerSet, includeEmbeddings, force, device, json, compact,
        };
        copal.AddTo(command);
        command.SetBody((p, ct) =>
        {
            string modelDir = p.GetValue(model)!;
            SparsityPattern target = ParsePattern(p.GetValue(sparsity), p.GetValue(pattern));
            bool asJson = p.GetValue(json);
            CopalState? copalState = copal.StateFor(p, p.GetValue(method)!, modelDir, ct);
            ILinearPruner pruner = PrunerFactory.Create(p.GetValue(method)!, copalState, m => Out.Info($"copal: {m}"));
            LlamaConfig config = LlamaConfig.Load(modelDir);
            int window = p.GetValue(seqlen) ?? Math.Min(2048, config.MaxPositionEmbeddings);
            if (window < 2 || window > config.MaxPositionEmbeddings)
            {
                throw new UsageException($"--seqlen must be between 2 and the model's context of {config.MaxPositionEmbeddings}, got {window}");
            }
            int n = p.GetValue(nsamples);
            if (n < 1)
            {
                throw new UsageException($"--nsamples must be ≥ 1, got {n}");
            }
            CalibrationSet calibration = LoadCalibration(modelDir, p.GetValue(calib), pruner, n, window, p.GetValue(seed));
            var options = new PruneOptions(target)
            {
                TrueSequential = p.GetValue(trueSequential),
                MeasureLayerError = !p.GetValue(noLayerError),
                IncludeEmbeddings = p.GetValue(includeEmbeddings),
                Layers = p.GetValue(layerSet) is string ls ? PruneOptions.ParseLayers(ls, config.NumLayers) : null,
            };
            // What the calibration will cost, said (and refused when it cannot fit) before the model is loaded.
            CalibrationMemoryEstimate estimate = CalibrationMemory.Estimate(config, calibration.Samples.Count, window, pruner, options);
            long available = CalibrationMemory.AvailableBytes();
            if (!asJson)
            {
                Out.Info($"copal: calibration {calibration.Samples.Count} × {window} tokens; the text gives at most {calibration.MaxSamples} non-overlapping windows of {window}; " +
                    $"estimated memory {estimate} of {CalibrationMemory.Format(available)} available");
            }
            try
            {
                CalibrationMemory.Require(estimate, available);
            }
            catch (CalibrationLimitException e)
            {
                throw new UsageException(e.Message);
            }
            using IBackend backend = CommonOptions.CreateBackend(p.GetValue(device)!);
            var request = new PruneRequest(modelDir, p.GetValue(outDir)!, pruner, options, calibration)
            {
                Force = p.GetValue(force),
                ExtraFiles = copalState is null ? new Dictionary<string, Action<string>>() : CopalRun.StateFiles(copalState, calibration, target),
            };
            if (!asJson)
            {
                Out.Info($"copal: pruning {modelDir} with {pruner.Name} to {target} on {backend.Info.Kind}; calibration {calibration.Samples.Count} × {window} tokens from {string.Join(", ", calibration.Sources)}");
            }
            using var line = new ProgressLine(quiet: asJson);
            PruneReport report = PruneJob.Run(request, backend,
                new SyncProgress<PruneProgress>(pr => line.Update($"layer {pr.Layer + 1}/{pr.Layers}: {pr.Stage}{(pr.Linear is null ? "" : $" {pr.Linear}")}", pr.Layer, pr.Layers)), ct);
            line.Done();
            if (copalState is not null && p.GetValue(copal.State) is string stateDir)
            {
                copalState.Save(stateDir);
            }
            if (p.GetValue(compact))
            {
                PrunedModelCompaction.Apply(request.OutDirectory, asJson, ct);
            }
            if (asJson)
            {
                Out.Json(report);
            }
            else
            {
                foreach (LayerReport l in report.Layers)
                {
                    string errors = string.Join(", ", l.Linears.Select(x => $"{x.Name.Split('.')[^2]} {x.Sparsity:P1}{(x.ReconstructionError is double e ? $" err {e:E2}" : "")}"));
                    Out.Line($"layer {l.Layer,3}: {errors}{(l.OutputRelativeError is double o ? $"; output error {o:E3}" : "")} ({l.Seconds:F1} s)");
                }
                if (copalState is not null)
                {
                    Out.Line($"COPAL state: {copalState.Datasets.Count} dataset(s) seen; written to {request.OutDirectory}{(p.GetValue(copal.State) is string sd ? $" and {sd}" : "")}");
                }
                Out.Line($"pruned {report.PrunedParameters:N0} of {report.PrunableParameters:N0} weights ({report.TotalSparsity:P2}) in {report.Seconds:F1} s; peak memory {report.PeakAnonymousBytes / 1048576.0:F0} MiB (plus mapped input pages: working set {report.PeakWorkingSetBytes / 1048576.0:F0} MiB); wrote {request.OutDirectory}");
            }
            return CliErrors.Ok;
        });
        return command;
    }

    internal static SparsityPattern ParsePattern(string? sparsity, string? pattern)
    {
        if ((sparsity is null) == (pattern is null))
        {
            throw new UsageException("give exactly one of --sparsity (e.g. 0.5) or --pattern (e.g. 2:4)");
        }
        SparsityPattern parsed = SparsityPattern.Parse(sparsity ?? pattern!);
        if (pattern is not null && parsed is not SparsityPattern.NM)
        {
            throw new UsageException($"--pattern expects N:M such as 2:4, got '{pattern}'");
        }
        if (sparsity is not null && parsed is not SparsityPattern.Unstructured)
        {
            throw new UsageException($"--sparsity expects a ratio such as 0.5, got '{sparsity}' (use --pattern for N:M)");
        }
        return parsed;
    }

    internal static CalibrationSet LoadCalibration(string modelDir, string? calib, ILinearPruner pruner, int nsamples, int seqLen, ulong seed)
    {
        if (calib is null)
        {
            if (pruner.Name != "magnitude")
            {
                throw new UsageException($"--calib is required for --method {pruner.Name} (it needs the inputs of each layer)");
            }
            // Magnitude needs no data; one short window still drives the driver's layer loop.
            return CalibrationSet.FromTokens([("(none)", Enumerable.Repeat(1, seqLen + 1).ToArray())], 1, seqLen, seed);
        }
        string[] files = calib.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string f in files)
        {
            if (!File.Exists(f))
            {
                throw new FileNotFoundException($"--calib file '{f}' does not exist", f);
            }
        }
        try
        {
            return PruneJob.Calibrate(modelDir, files, nsamples, seqLen, seed);
        }
        catch (CalibrationLimitException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
