using System.CommandLine;
using System.Text.Json;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Prune;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal continual</c>: the continual evaluation protocol. Datasets arrive one by one; every method variant prunes
/// after each, and every step's model is evaluated on all datasets. Writes report.json, report.md and two SVG figures.
/// </summary>
internal static class ContinualCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var datasets = new Option<string>("--datasets") { Description = "The datasets in arrival order: " + ContinualDataset.Grammar, Required = true }
            .Accept(OptionRules.ByLibrary(v => ContinualDataset.ParseList(v)));
        var methods = new Option<string>("--methods") { Description = "Comma-separated: copal, wanda, sparsegpt, magnitude (each baseline runs as reset and cumulative)", DefaultValueFactory = _ => "copal,wanda,sparsegpt,magnitude" }
            .Accept(v => v.Split(',', StringSplitOptions.TrimEntries) is var list && !list.All(ContinualRequest.MethodNames.Contains)
                ? $"a comma-separated list of {string.Join(", ", ContinualRequest.MethodNames)}"
                : list.Distinct().Count() != list.Length ? "each method at most once" : null);
        var sparsity = PruneCommand.SparsityOption();
        var pattern = PruneCommand.PatternOption();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the calibration window offsets (--seeds runs several)", DefaultValueFactory = _ => 0UL };
        var seedList = new Option<string?>("--seeds") { Description = "Comma-separated calibration seeds, e.g. 0,1,2,3: the protocol runs once per seed, with per-seed numbers and a paired summary" }
            .Accept(v => ParseSeeds(v) is null ? "a comma-separated list of distinct non-negative integers, e.g. 0,1,2,3" : null);
        var nsamples = new Option<int>("--nsamples") { Description = "Calibration windows per dataset and step", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var seqlen = new Option<int?>("--seqlen") { Description = "Tokens per calibration window (default: min(2048, the model's context))" }.AtLeast(2);
        var evalSeqLen = new Option<int?>("--eval-seqlen") { Description = "Perplexity window length (default: --seqlen)" }.AtLeast(2);
        var evalLimit = new Option<int?>("--eval-limit-chunks") { Description = "Evaluate at most K windows per dataset (faster, less precise; default: all)" }.AtLeast(1);
        var noJoint = new Option<bool>("--no-joint") { Description = "Skip the joint references (each data-dependent method calibrated on D1..Dt pooled); intransigence is then measured only for magnitude, whose reset is its own joint" };
        var sensitivity = new Option<string>("--sensitivity") { Description = "COPAL estimator: output or hessian", DefaultValueFactory = _ => "output" }
            .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseSensitivity(v)));
        var accumulate = new Option<string>("--accumulate") { Description = "COPAL accumulation: sum, max (of per-dataset normalized sensitivities) or pooled (token-weighted column moments and Gram matrices: pooled calibration without stored data)", DefaultValueFactory = _ => new CopalOptions().Accumulate.ToString().ToLowerInvariant() }
            .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseAccumulation(v)));
        var decay = new Option<double>("--decay") { Description = "COPAL decay γ in (0, 1]", DefaultValueFactory = _ => 1.0 }
            .Accept(CopalCliOptions.DecayIsValid, CopalCliOptions.DecayExpected);
        var update = new Option<bool>("--update") { Description = "COPAL --mask fixed: reconstruct kept weights with the accumulated Hessian" };
        var mask = new Option<string?>("--mask") { Description = "COPAL mask rule: obs (default: SparseGPT's sweep with the accumulated Hessian) or fixed (w²·S_j on the dense weights; the default with --update)" }
            .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseMask(v)));
        var upstream = CopalCliOptions.UpstreamOption();
        var denseTarget = CopalCliOptions.DenseTargetOption();
        var outDir = new Option<string>("--out", "-o") { Description = "Report folder (must not exist or be empty, unless --force)", Required = true }.Folder();
        var force = new Option<bool>("--force") { Description = "Replace a non-empty --out folder" };
        var temp = new Option<string?>("--temp") { Description = "Folder for the intermediate pruned models (default: the system temp folder); they are deleted at the end" }.Folder();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("continual", "Continual pruning protocol: datasets arrive in order; COPAL vs reset/cumulative baselines and joint references, per calibration seed; log-space metrics, perplexity matrices R, figures")
        {
            model, datasets, methods, sparsity, pattern, seed, seedList, nsamples, seqlen, evalSeqLen, evalLimit, noJoint, sensitivity, accumulate, decay, update, mask, upstream, denseTarget, outDir, force, temp, device, json,
        };
        command.SetBody((p, ct) =>
        {
            // Usage errors first, before any path is looked at.
            SparsityPattern target = PruneCommand.ParsePattern(p.GetValue(sparsity), p.GetValue(pattern));
            foreach (ContinualDataset d in ContinualDataset.ParseList(p.GetValue(datasets)!))
            {
                Inputs.RefuseStdio(d.Calibration.Path, p.Typed(datasets), "files");
                Inputs.RefuseStdio(d.Evaluation.Path, p.Typed(datasets), "files");
            }
            CopalCliOptions.CheckUpdateWithMask(p.GetValue(update), p.GetValue(mask));
            string[] methodList = p.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!methodList.Contains("copal"))
            {
                // As prune refuses them without --method copal: a COPAL option with no COPAL variant would change nothing.
                string[] given = [.. new Option[] { sensitivity, accumulate, decay, update, mask, upstream, denseTarget }
                    .Where(o => p.GetResult(o) is { Implicit: false }).Select(o => o.Name)];
                if (given.Length > 0)
                {
                    throw UsageException.ApplyOnly(given, $"when --methods includes copal (got --methods {string.Join(",", methodList)})");
                }
            }
            if (p.GetResult(seed) is { Implicit: false } && p.GetValue(seedList) is string several)
            {
                throw new UsageException($"--seed {p.GetValue(seed)} and --seeds {several}: expected one of them");
            }
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            bool asJson = p.GetValue(json);
            // Locked before its config is read (InputFolderLock; the output takes the lock again, shared): a --force over
            // the model between the config's read and the lock would size the run for one model and prune another.
            using FolderLock? reading = InputFolderLock.Acquire(modelDir, "the input folder");
            LlamaConfig config = LlamaConfig.Load(modelDir);
            int window = p.GetValue(seqlen) ?? Math.Min(2048, config.MaxPositionEmbeddings);
            int evalWindow = p.GetValue(evalSeqLen) ?? window;
            foreach ((string name, int value) in new[] { ("--seqlen", window), ("--eval-seqlen", evalWindow) })
            {
                if (value > config.MaxPositionEmbeddings)
                {
                    throw new UsageException($"{name}: expected at most the model's context of {config.MaxPositionEmbeddings} tokens, got {value}");
                }
            }
            IReadOnlyList<ulong> seeds = p.GetValue(seedList) is string list ? ParseSeeds(list)! : [p.GetValue(seed)];
            var copalOptions = new CopalOptionChoices(CopalOptions.ParseSensitivity(p.GetValue(sensitivity)!), CopalOptions.ParseAccumulation(p.GetValue(accumulate)!), p.GetValue(decay), p.GetValue(update),
                p.GetValue(mask) is string m ? CopalOptions.ParseMask(m) : null, p.GetValue(upstream) is string u ? CopalOptions.ParseUpstream(u) : null,
                p.GetValue(denseTarget)).WithDefaults();
            copalOptions.Validate();
            var request = new ContinualRequest(modelDir, ContinualDataset.ParseList(p.GetValue(datasets)!),
                methodList, target,
                p.GetValue(nsamples), window, evalWindow, seeds, copalOptions)
            {
                EvalLimitChunks = p.GetValue(evalLimit),
                Joint = !p.GetValue(noJoint),
                TempDirectory = p.GetValue(temp),
            };
            var variants = ContinualRunner.Variants(request);
            foreach (string file in request.Datasets.SelectMany(d => new[] { d.Calibration.Path, d.Evaluation.Path }).Distinct())
            {
                // Said as what it is (a folder, missing, unreadable) and naming --datasets, before the output is claimed;
                // a folder would otherwise be refused as "the --datasets file" that an output inside it lies in.
                Inputs.TextFile(file, "--datasets");
                PathGuard.RequireApart(p.GetValue(outDir)!, "--out", file, "the --datasets file");
            }
            if (request.TempDirectory is not null)
            {
                if (File.Exists(RealPath.Resolve(request.TempDirectory, "--temp")))
                {
                    throw new IOException($"--temp '{request.TempDirectory}' is an existing file; expected a folder (the intermediate models go into a new subfolder of it)");
                }
                PathGuard.RequireOutside(request.TempDirectory, "--temp", modelDir, "the input folder");
            }
            // Claim the output folder first, so a bad --out fails before hours of work.
            using AtomicDirectory output = AtomicDirectory.Create(p.GetValue(outDir)!, p.GetValue(force), modelDir);
            // What the calibration texts can give and what the largest calibration will cost, refused before any work.
            CalibrationMemoryEstimate estimate = ContinualRunner.EstimateMemory(request, config);
            long available = HostMemory.LimitBytes;
            ContinualData data;
            try
            {
                using (var tokenizing = new ProgressLine(quiet: asJson))
                {
                    data = ContinualRunner.Prepare(request, new SyncProgress<ContinualProgress>(pr => tokenizing.Update($"copal: {pr.Stage}")), ct);
                    // Ends on the last text done, not on whichever update the rate limit let through.
                    tokenizing.Done();
                }
                RequireEvaluationWindows(request, data, p.GetValue(evalSeqLen) is null);
                if (!asJson)
                {
                    for (int i = 0; i < request.Datasets.Count; i++)
                    {
                        int tokens = data.CalibrationTokens[i].Length;
                        Out.Info($"copal: calibration '{request.Datasets[i].Name}': {tokens:N0} tokens give at most {Plural.Of(CalibrationSet.WindowsIn(tokens, window), "non-overlapping window")} of {window}; {request.NSamples} per step");
                    }
                    Out.Info($"copal: estimated memory of the largest calibration ({estimate.Samples} × {window} tokens): {estimate} of {ByteSize.Format(available)} available");
                }
                CalibrationMemory.Require(estimate, available);
            }
            catch (CalibrationLimitException e) when (e.OptionsCanHelp)
            {
                throw new UsageException(e.Message);
            }
            catch (InvalidDataException e)
            {
                // A text with nothing in it (or a half with nothing): the shortest text, a usage error as a short one is.
                throw new UsageException($"--datasets: {e.Message}");
            }
            using IBackend backend = CommonOptions.CreateBackend(p.GetValue(device)!);
            if (!asJson)
            {
                Out.Info($"copal: continual run on {modelDir} to {target}: {string.Join(" → ", request.Datasets.Select(d => d.Name))}; variants {string.Join(", ", variants.Select(v => v.Name))}; on {backend.Info.Kind}");
            }
            using var line = new ProgressLine(quiet: asJson);
            long units = ((long)variants.Count * seeds.Count * request.Datasets.Count) + 1;
            ContinualReport report = ContinualRunner.Run(request, data, backend, new SyncProgress<ContinualProgress>(pr =>
                line.Update($"{pr.Variant} step {pr.Step}/{pr.Steps}: {pr.Stage}", pr.Step == 0 ? 0 : 1 + (pr.VariantIndex * pr.Steps) + pr.Step - 1, units)), ct);
            line.Done();
            output.WriteText("report.json", JsonSerializer.Serialize(report, PruneJob.ReportJsonOptions));
            output.WriteText("report.md", ContinualMarkdown.Render(report));
            output.WriteText("ppl-per-dataset.svg", ContinualSvg.PerplexityPlot(report));
            output.WriteText("r-heatmap.svg", ContinualSvg.Heatmap(report));
            output.WriteText("metrics.svg", ContinualSvg.MetricsPlot(report));
            ct.ThrowIfCancellationRequested(); // the last point a cancellation can still leave no output
            output.Commit();
            if (asJson)
            {
                Out.Json(report);
            }
            else
            {
                if (report.PreconditionWarning is string warning)
                {
                    Out.Line(warning);
                }
                var ci = System.Globalization.CultureInfo.InvariantCulture;
                static string F(double? x, string format) => x is double d ? d.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "–";
                Out.Line($"{"variant",-22} {"final_gm_ratio",15} {"aia_gm_ratio",13} {"forgetting_log",15} {"intransigence",14} {"COPAL lower",12}");
                foreach (VariantReport v in report.Variants)
                {
                    Out.Line($"{v.Name,-22} {F(v.Mean.FinalGmRatio, "F4"),15} {F(v.Mean.AiaGmRatio, "F4"),13} {SignedFixed.Format(v.Mean.ForgettingLog, 4),15} {SignedFixed.Format(v.Mean.IntransigenceLog, 4),14} {(v.SeedsCopalLower is int k ? $"{k}/{v.Seeds.Count}" : "–"),12}");
                }
                Out.Line(string.Create(ci, $"seeds {string.Join(",", report.Seeds)} (means over seeds; per-seed numbers in report.md)"));
                Out.Line($"dense: {string.Join(", ", report.Datasets.Select(d => $"{d.Name} {d.DensePerplexity:F2}"))}; {report.Seconds:F0} s; wrote {p.GetValue(outDir)}");
            }
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>
    /// Every evaluation text holds one window of --eval-seqlen: a usage error naming the text otherwise, before the
    /// dense model is evaluated (as a calibration text too short for --seqlen is).
    /// </summary>
    private static void RequireEvaluationWindows(ContinualRequest request, ContinualData data, bool defaulted)
    {
        for (int i = 0; i < request.Datasets.Count; i++)
        {
            int tokens = data.EvaluationTokens[i].Length;
            if (tokens < request.EvalSeqLen)
            {
                throw new UsageException($"--datasets: evaluation text {request.Datasets[i].Evaluation.Quoted} of '{request.Datasets[i].Name}' has {Plural.Of(tokens, "token")}; "
                    + $"one window of --eval-seqlen {request.EvalSeqLen}{(defaulted ? " (the default: --seqlen)" : "")} needs at least {request.EvalSeqLen}");
            }
        }
    }

    /// <summary>The seeds of <c>--seeds</c>, or null when the text is not a list of distinct non-negative integers.</summary>
    internal static IReadOnlyList<ulong>? ParseSeeds(string text)
    {
        var seeds = new List<ulong>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!ulong.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong s) || seeds.Contains(s))
            {
                return null;
            }
            seeds.Add(s);
        }
        return seeds.Count == 0 ? null : seeds;
    }
}
