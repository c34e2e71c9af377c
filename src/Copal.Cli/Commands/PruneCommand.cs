using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal prune</c>: layer-sequential pruning with magnitude, Wanda or SparseGPT into a new HF model folder.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var outDir = new Option<string>("--out", "-o") { Description = "Output model folder (must not exist or be empty, unless --force)", Required = true }.Folder();
        var method = new Option<string>("--method") { Description = "magnitude, wanda, sparsegpt or copal (continual; see --resume, --state)", DefaultValueFactory = _ => "wanda" }
            .OneOf([.. PrunerFactory.Methods]);
        var sparsity = SparsityOption();
        var pattern = PatternOption();
        var calib = new Option<string?>("--calib") { Description = "Calibration text file(s), comma-separated; - reads standard input (not needed for magnitude)" }
            .Accept(v => v.Split(',', StringSplitOptions.TrimEntries).Any(f => f.Length == 0) ? CalibrationExpected : null);
        var nsamples = new Option<int>("--nsamples") { Description = "Calibration windows", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var seqlen = new Option<int?>("--seqlen") { Description = "Tokens per calibration window (default: min(2048, the model's context))" }.AtLeast(2);
        var seed = new Option<ulong>("--seed") { Description = "Seed of the calibration window offsets", DefaultValueFactory = _ => 0UL };
        var trueSequential = new Option<bool>("--true-sequential") { Description = "Prune q,k,v → o → gate,up → down, re-collecting statistics between groups" };
        var noLayerError = new Option<bool>("--no-layer-error") { Description = "Skip measuring each layer's output error (saves one layer pass)" };
        var includeEmbeddings = new Option<bool>("--include-embeddings") { Description = "Also prune lm_head (by the method) and an untied embed_tokens (by magnitude); the literature leaves them dense" };
        var layerSet = new Option<string?>("--layers") { Description = "Prune only these decoder layers, e.g. 0-3,7 (default: all); the rest are copied" };
        var force = new Option<bool>("--force") { Description = "Replace a non-empty --out folder (and a COPAL state already in --state)" };
        CopalCliOptions copal = CopalCliOptions.Create();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var compact = new Option<bool>("--compact") { Description = "Store the pruned linears compactly (as `copal compact --format auto`)" };
        var allowNonFinite = CommonOptions.AllowNonFinite();
        var command = new Command("prune", "Prune every linear layer of the decoder layers and write a new model folder")
        {
            model, outDir, method, sparsity, pattern, calib, nsamples, seqlen, seed, trueSequential, noLayerError, layerSet, includeEmbeddings, force, device, json, compact, allowNonFinite,
        };
        copal.AddTo(command);
        command.SetBody((p, ct) =>
        {
            // Usage errors first, before any path is looked at.
            SparsityPattern target = ParsePattern(p.GetValue(sparsity), p.GetValue(pattern));
            copal.Check(p, p.GetValue(method)!);
            if (p.GetValue(includeEmbeddings) && IsMethod(p.GetValue(method)!, "copal"))
            {
                // The library refuses it too, but only once the model is loaded and in its own words.
                throw new UsageException($"{p.Typed(includeEmbeddings)} applies only to --method magnitude, wanda or sparsegpt (got --method {p.GetValue(method)}): "
                    + "COPAL keeps its state only for the decoder layers' linears");
            }
            RequireCalibration(p.GetValue(method)!, p.GetValue(calib));
            RefuseIgnoredOptions(p, p.GetValue(method)!, calib, [seed, nsamples, seqlen], trueSequential, noLayerError);
            if (CalibrationFiles(p.GetValue(calib)).Count(Inputs.IsStdio) > 1)
            {
                throw new UsageException("--calib: standard input ('-') can be given once");
            }
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // Held until the state's renames are done (the end of this body): a second run on the same --state or
            // --resume folder is refused now, not minutes later with its state's files interleaved with this run's, or
            // replaced under the run that reads them.
            (FolderLock? stateLock, FolderLock? resumeLock, OutputFolderLock outLock, FolderLock? modelLock) = RequireOutputsApart(p.GetValue(outDir)!, modelDir, p.GetValue(calib), p.GetValue(copal.Resume), p.GetValue(copal.State), p.GetValue(force));
            using FolderLock? heldState = stateLock;
            using FolderLock? heldResume = resumeLock;
            using OutputFolderLock heldOut = outLock;
            using FolderLock? heldModel = modelLock;
            // Before the calibration text is tokenized and a COPAL parent hashed, which take minutes on a large model.
            PruneJob.RequireDenseLinears(modelDir);
            if (p.GetValue(compact))
            {
                try
                {
                    // Before the calibration text is read and the model loaded: said at once.
                    CheckpointCompactor.RequireCompactableDType(modelDir);
                }
                catch (CompactFormatException e)
                {
                    // The formats hold the dtypes a model loads in (F32, BF16, F16), so such a linear is one pruning
                    // cannot load either: the input's failure (exit 1), in the load's words. Only a dtype that loads and
                    // does not compact would make --compact the option to drop (a usage error).
                    if (UnloadableLinear(modelDir) is ModelLoadException load)
                    {
                        throw load;
                    }
                    throw new UsageException($"{p.Typed(compact)}: {e.Message}");
                }
            }
            bool asJson = p.GetValue(json);
            CopalState? copalState = copal.StateFor(p, p.GetValue(method)!, modelDir, target, ct);
            if (!asJson && copalState is not null && ResumedAcrossKinds(copalState, target) is string notice)
            {
                Out.Info(notice);
            }
            ILinearPruner pruner = PrunerFactory.Create(p.GetValue(method)!, copalState, m => Out.Info($"copal: {m}"));
            LlamaConfig config = LlamaConfig.Load(modelDir);
            // Checked against the model before any calibration work.
            IReadOnlySet<int>? layers = p.GetValue(layerSet) is string ls ? PruneOptions.ParseLayers(ls, config.NumLayers) : null;
            int window = p.GetValue(seqlen) ?? Math.Min(2048, config.MaxPositionEmbeddings);
            if (window > config.MaxPositionEmbeddings)
            {
                throw new UsageException($"--seqlen: expected at most the model's context of {config.MaxPositionEmbeddings} tokens, got {window}");
            }
            int n = p.GetValue(nsamples);
            CalibrationSet calibration = LoadCalibration(modelDir, p.GetValue(calib), pruner, n, window, p.GetValue(seed), asJson, ct);
            if (copalState?.StepWithCalibration(calibration.Hash) is CopalStepRecord repeated)
            {
                throw new UsageException($"--calib: step {repeated.Step} of the resumed state already folded in these same windows ({repeated.NSamples} × {repeated.SeqLen} tokens of " +
                    $"{string.Join(", ", repeated.Sources)}, seed {repeated.Seed}), and folding them again would count that dataset twice; give the next dataset, or another --seed to draw other windows of this one");
            }
            var options = new PruneOptions(target)
            {
                TrueSequential = p.GetValue(trueSequential),
                // Measured on the calibration data: without any, the error of a placeholder window would mean nothing.
                MeasureLayerError = !p.GetValue(noLayerError) && calibration.HasData,
                IncludeEmbeddings = p.GetValue(includeEmbeddings),
                Layers = layers,
            };
            // What the calibration will cost, said (and refused when it cannot fit) before the model is loaded.
            CalibrationMemoryEstimate estimate;
            using (SafetensorsCheckpoint headers = ModelCheckpoint.Open(modelDir, config, cancellationToken: ct))
            {
                estimate = CalibrationMemory.Estimate(config, calibration.Samples.Count, calibration.SeqLen, pruner, options,
                    CalibrationMemory.LinearBytes(headers, config), CalibrationMemory.HeadBytes(headers, config));
            }
            long available = HostMemory.LimitBytes;
            if (!asJson)
            {
                string memory = $"; estimated memory {estimate} of {ByteSize.Format(available)} available";
                Out.Info(calibration.HasData
                    ? $"copal: calibration {calibration.Samples.Count} × {window} tokens; the text gives at most {Plural.Of(calibration.MaxSamples, "non-overlapping window")} of {window}{memory}"
                    : $"copal: no calibration data ({pruner.Name} needs none; layer output errors are measured only with --calib){memory}");
            }
            try
            {
                CalibrationMemory.Require(estimate, available);
            }
            catch (CalibrationLimitException e) when (e.OptionsCanHelp)
            {
                throw new UsageException(e.Message);
            }
            using IBackend backend = CommonOptions.CreateBackend(p.GetValue(device)!);
            var request = new PruneRequest(modelDir, p.GetValue(outDir)!, pruner, options, calibration)
            {
                Force = p.GetValue(force),
                AllowNonFinite = p.GetValue(allowNonFinite),
                ExtraFiles = copalState is null ? new Dictionary<string, Action<string, CancellationToken>>() : CopalRun.StateFiles(copalState, calibration, target),
            };
            if (!asJson)
            {
                Out.Info($"copal: pruning {modelDir} with {pruner.Name} to {target} on {backend.Info.Kind}; " +
                    (calibration.HasData ? $"calibration {calibration.Samples.Count} × {window} tokens from {string.Join(", ", calibration.Sources)}" : "no calibration data"));
            }
            using var line = new ProgressLine(quiet: asJson);
            // With --layers, the share done (and the ETA) counts the selected layers: the others only run once, dense.
            IReadOnlySet<int>? selected = options.Layers;
            // Compaction and the --state copy happen before the output is renamed into place: a failure in either
            // (a full disk, Ctrl-C) leaves no output. The state's files are renamed into --state once the output is in
            // place; a kill between is settled by the next run that looks in --state (StagedFiles.Follow).
            string? stateDir = copalState is not null ? p.GetValue(copal.State) : null;
            StagedFiles? stagedState = null;
            bool lineDone = false;
            string outDirectory = request.OutDirectory;
            // A --state that is --out holds the state already; one inside --out is written into the staged folder, to
            // land with it (staging it beside, in the final folder, would make that folder exist before the rename).
            string outReal = RealPath.Resolve(outDirectory);
            string? stateReal = stateDir is null ? null : RealPath.Resolve(stateDir);
            string? stateInsideOut = stateReal is not null && RealPath.IsSameOrInside(stateReal, outReal) ? Path.GetRelativePath(outReal, stateReal) : null;
            request = request with
            {
                BeforeCommitSpace = BeforeCommitSpace(p.GetValue(compact), modelDir, copalState, config, target, options.Layers, stateDir, stateInsideOut, outDirectory, ct),
                BeforeCommit = (staged, token) =>
                {
                    line.Done();
                    lineDone = true;
                    if (p.GetValue(compact))
                    {
                        PrunedModelCompaction.Apply(staged, outDirectory, asJson, token);
                    }
                    if (stateInsideOut is not null)
                    {
                        if (stateInsideOut != ".")
                        {
                            CopalState.Copy(staged, Path.Combine(staged, stateInsideOut));
                        }
                    }
                    else if (stateDir is not null)
                    {
                        // The copy lands after the model, whose folder holds the same state: a run killed between the
                        // two leaves a record by which the next run finishes the copy (or drops it, the model not in place).
                        stagedState = CopalState.StageCopy(staged, stateDir, Path.Combine(outReal, CopalState.ManifestFileName));
                    }
                },
            };
            PruneReport report;
            try
            {
                report = PruneJob.Run(request, backend,
                    new SyncProgress<PruneProgress>(pr => line.Update(pr.Describe(),
                        selected is null ? Math.Max(pr.Layer, 0) : selected.Count(l => l < pr.Layer), selected?.Count ?? pr.Layers)), ct);
                stagedState?.Commit();
            }
            finally
            {
                stagedState?.Dispose();
            }
            if (!lineDone)
            {
                line.Done();
            }
            if (asJson)
            {
                Out.Json(report);
            }
            else
            {
                foreach (LayerReport l in report.Layers)
                {
                    string errors = string.Join(", ", l.Linears.Select(x => $"{x.Name.Split('.')[^2]} {x.Sparsity:P1}{(x.ReconstructionError is double e ? $" err {e:0.00e+00}" : "")}"));
                    Out.Line($"layer {l.Layer,3}: {errors}{(l.OutputRelativeError is double o ? $"; output error {o:0.000e+00}" : "")} ({l.Seconds:F1} s)");
                }
                if (copalState is not null)
                {
                    Out.Line($"COPAL state: {Plural.Of(copalState.Datasets.Count, "dataset")} seen; written to {request.OutDirectory}{(stateDir is not null ? $" and {stateDir}" : "")}");
                }
                string model = report.LinearParameters != report.PrunableParameters ? $"; the model's {(options.IncludeEmbeddings ? "linears and embeddings" : "decoder linears")} are {report.LinearSparsity:P2} zeros" : "";
                Out.Line($"pruned {report.PrunedParameters:N0} of {report.PrunableParameters:N0} weights ({report.TotalSparsity:P2}) in {report.Seconds:F1} s{model}; peak memory {report.PeakAnonymousBytes / 1048576.0:F0} MiB (plus mapped input pages: working set {report.PeakWorkingSetBytes / 1048576.0:F0} MiB); wrote {request.OutDirectory}");
            }
            ModelWithoutTokenizer.WarnIfAbsent(modelDir, request.OutDirectory);
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>
    /// What the run writes beside the pruned model before its output lands, for the free-space check before the
    /// pruning. Compacting writes a copy of the output folder (its model compact, <see cref="CompactProjection"/>, its
    /// side files and the COPAL state it holds), then deletes the dense one: the copy of the state for --state comes
    /// after that and fits in what was freed. Without compacting, that copy counts where it lands on the output's file
    /// system. A --state on another file system is checked here, against that one.
    /// </summary>
    private static List<OutputSpace> BeforeCommitSpace(bool compact, string modelDir, CopalState? state, LlamaConfig config, SparsityPattern pattern,
        IReadOnlySet<int>? layers, string? stateDir, string? stateInsideOut, string outDirectory, CancellationToken cancellationToken)
    {
        long stateBytes = state?.ProjectedTensorBytes(config, layers) ?? 0;
        bool copiesState = state is not null && stateDir is not null && stateInsideOut != ".";
        bool copyBesideOutput = copiesState && (stateInsideOut is not null || DiskSpace.OnSameFileSystem(stateDir!, outDirectory));
        if (copiesState && !copyBesideOutput)
        {
            DiskSpace.Require("--state", stateDir!, stateBytes, "the COPAL state");
        }
        var space = new List<OutputSpace>();
        // A compaction that finds nothing to store compact writes no copy: the state's copy then lands beside the model.
        if (compact && CompactsAny(modelDir, config, pattern, layers, cancellationToken))
        {
            // The copy holds every file of the output: the side files the writer copied in, and the state.
            long sideFiles = PrunedModelWriter.SideFileBytes(modelDir);
            space.Add(new OutputSpace("its compact copy", model => CompactProjection.Bytes(model, config, pattern, layers) + stateBytes + sideFiles));
        }
        else if (copyBesideOutput)
        {
            space.Add(new OutputSpace("the copy of its COPAL state for --state", _ => stateBytes));
        }
        return space;
    }

    /// <summary>Whether --compact writes a compact copy of this run's output (<see cref="CompactProjection.WritesCopy"/>).</summary>
    private static bool CompactsAny(string modelDir, LlamaConfig config, SparsityPattern pattern, IReadOnlySet<int>? layers, CancellationToken cancellationToken)
    {
        if (pattern.TargetSparsity >= CheckpointCompactor.MinBitmaskSparsity)
        {
            return true; // the usual case, told without opening the model
        }
        using SafetensorsCheckpoint dense = ModelCheckpoint.Open(modelDir, config, cancellationToken: cancellationToken);
        return CompactProjection.WritesCopy(dense, config, pattern, layers, cancellationToken);
    }

    /// <summary>
    /// The load's refusal of the first decoder linear of <paramref name="modelDir"/> stored in a dtype the model does
    /// not load in (<see cref="DTypes.IsWeightFloat"/>), worded as the load words it; null when every one loads.
    /// </summary>
    private static ModelLoadException? UnloadableLinear(string modelDir)
    {
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(modelDir, LlamaConfig.Load(modelDir));
        return source.Tensors.FirstOrDefault(t => LlamaTensorNames.TryParseLinear(t.Name, out _, out _) && !t.DType.IsWeightFloat()) is { Name: not null } t
            ? new ModelLoadException($"{modelDir}: tensor '{t.Name}' has dtype {t.DType}, expected F32, F16 or BF16")
            : null;
    }

    /// <summary>
    /// A notice where a resumed state's last step was of another kind of sparsity (unstructured, N:M) than this one and
    /// the state's upstream or dense target differ from what a new state for this pattern would take: the state keeps
    /// its options (they describe its statistics), and the user should know this step does not get the new kind's.
    /// </summary>
    internal static string? ResumedAcrossKinds(CopalState state, SparsityPattern target)
    {
        if (state.Datasets.Count == 0 || SparsityPattern.Parse(state.Datasets[^1].Pattern) is not SparsityPattern last
            || (last is SparsityPattern.NM) == (target is SparsityPattern.NM))
        {
            return null;
        }
        CopalOptions kept = state.Options;
        CopalOptions fresh = (kept with { Upstream = null, DenseTarget = null }).ForPattern(target);
        if (fresh.ResolvedUpstream == kept.ResolvedUpstream && fresh.ResolvedDenseTarget == kept.ResolvedDenseTarget)
        {
            return null;
        }
        return FormattableString.Invariant($"copal: the resumed state's last step was pruned to {last} and this one to {target}: the state keeps its upstream {CopalOptions.UpstreamName(kept.ResolvedUpstream)} and dense target {kept.ResolvedDenseTarget}, where a new state for {target} would take {CopalOptions.UpstreamName(fresh.ResolvedUpstream)} and {fresh.ResolvedDenseTarget}");
    }

    /// <summary>
    /// Neither output may touch an input: --out replaces its folder, so it must be apart from every input;
    /// --state is written into, so it must be apart from the model folder and the --resume folder (the state a run
    /// continues from stays as it was, beside the model it belongs to). Checked before any work starts. Returns the
    /// locks on a --state apart from --out and on the --resume folder (<see cref="LockStateFolder"/>), and on an
    /// existing --out and the state folders in it (<see cref="OutputFolderLock"/>), and the shared one on the model
    /// folder (<see cref="InputFolderLock"/>: its tokenizer and config are read before its weights, and a --force over it
    /// between would mix two models), which the caller holds until the state is in place.
    /// </summary>
    private static (FolderLock? State, FolderLock? Resume, OutputFolderLock Out, FolderLock? Model) RequireOutputsApart(string outDir, string modelDir, string? calib, string? resume, string? state, bool force)
    {
        PathGuard.RequireApart(outDir, "--out", modelDir, "the input folder");
        foreach (string f in CalibrationFiles(calib).Where(f => !Inputs.IsStdio(f)))
        {
            if (Directory.Exists(f))
            {
                // Said as what it is, not as "the --calib file" that an output inside it would be refused for.
                Inputs.TextFile(f, "--calib");
            }
            PathGuard.RequireApart(outDir, "--out", f, "the --calib file");
        }
        if (resume is not null)
        {
            Inputs.StateFolder(resume, "--resume");
            PathGuard.RequireApart(outDir, "--out", resume, "the --resume folder");
        }
        if (state is not null)
        {
            // The state's two files are renamed into --state: neither may be an input's file through its links.
            string[] written = [CopalState.TensorsFileName, CopalState.ManifestFileName];
            PathGuard.RequireOutsideWriting(state, "--state", written, modelDir, "the input folder");
            if (resume is not null)
            {
                PathGuard.RequireOutsideWriting(state, "--state", written, resume, "the --resume folder");
            }
        }
        // Refused now, before any work, where another run reads or writes a state in the folder --force replaces; locked
        // before what the folder holds is judged (a state another run stages there is no reason to refuse), and before a
        // --state inside it is swept.
        // Where another run holds it, what would refuse it anyway is said instead (AtomicDirectory.LockOutput).
        OutputFolderLock replacing = AtomicDirectory.LockOutput("--out", outDir, force);
        FolderLock? held = null;
        FolderLock? reading = null;
        FolderLock? model = null;
        try
        {
            // The --state first: what a killed run left in one inside --out is settled (StaleTemporaries) before --out
            // is judged, as it is no content.
            held = state is null ? null : RequireStateFolder(state, outDir, force);
            // Said before the calibration text is read and the model loaded, not when the output is made after them (and
            // after the checks above: an input inside the output is the first thing to say); and before another run's
            // lock on the model or --resume refuses the run, which waiting for that run would not mend.
            AtomicDirectory.RequireUsable("--out", outDir, force);
            model = InputFolderLock.Acquire(modelDir, "the input folder");
            reading = resume is null ? null : LockResumeFolder(resume);
            return (held, reading, replacing, model);
        }
        catch
        {
            model?.Dispose();
            reading?.Dispose();
            held?.Dispose();
            replacing.Dispose();
            throw;
        }
    }

    /// <summary>
    /// --state names a folder; one that already holds a COPAL state is replaced only with --force. One that holds a
    /// model is refused, --force or not, unless it is --out or inside it (where the state lands with the output). One
    /// apart from --out is locked (<see cref="LockStateFolder"/>) before what it holds is looked at, so that two runs
    /// that start together cannot both find it empty; the lock is returned.
    /// </summary>
    private static FolderLock? RequireStateFolder(string state, string outDir, bool force)
    {
        string real = RealPath.Resolve(state);
        if (File.Exists(real))
        {
            throw new IOException($"--state '{state}' is an existing file; expected a folder (it receives {CopalState.TensorsFileName} and {CopalState.ManifestFileName})");
        }
        // A model's folder holds the state of the run that made it (written there by that run's --out): another run's
        // state over it, by the --force given for an existing --out, would leave the model beside a state not its own.
        bool apart = !RealPath.IsSameOrInside(real, RealPath.Resolve(outDir));
        if (apart && CopalState.ModelFileIn(real) is string model)
        {
            throw new IOException($"--state '{state}' holds a model ({model}); a model's folder keeps the state of the run that made it: "
                + "choose a folder of the state's own (the state is also written into --out, beside this run's model)");
        }
        // The folder is made there for the lock: a file on the way is said as what it is, not as a failed write.
        if (MadeFolders.NearestExistingAbove(real) is string above && File.Exists(above))
        {
            throw new IOException($"--state '{state}': '{above}' is a file, so no folder can be made there");
        }
        // A --state that is --out or inside it lands with the output, whose rename already refuses a folder another
        // run made meanwhile; and no folder may be made inside --out before it takes its name.
        FolderLock? held = apart ? LockStateFolder(state, real, outDir, force) : null;
        try
        {
            // Nor a folder where nothing can be written (a read-only file system, no permission): said as --state's.
            // Probed once locked: the folder then exists and stays (a run that made it removes it only while it holds
            // the lock), where before the lock it could be removed under the probe by the run that made it, as that run ended.
            AtomicFile.RequireWritableFolder(state, "--state");
            // What a killed run left there is settled under the lock, before what the folder holds is judged: a state
            // copy it owed is finished here, and then asks for --force like any state.
            StaleTemporaries.SweepFolder(real);
            RemoveOldLockFile(real);
            if (!force && Directory.Exists(real) && CopalState.IsIn(real))
            {
                throw new IOException($"--state '{state}' already holds a COPAL state ({CopalState.ManifestFileName}); pass --force to replace it, or choose another folder");
            }
            // The state's files are renamed into the folder after the model is in place: a folder at one of their names
            // would fail that rename only then, leaving the model without its state there.
            foreach (string name in new[] { CopalState.TensorsFileName, CopalState.ManifestFileName })
            {
                if (Directory.Exists(Path.Combine(real, name)))
                {
                    throw new IOException($"--state '{state}': {name} there is a folder; expected a file (the state's {CopalState.TensorsFileName} and {CopalState.ManifestFileName} are renamed into it)");
                }
            }
            return held;
        }
        catch
        {
            held?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Locks the --state folder to write there (made now if missing, and removed again if the run ends without a state
    /// there) until the run has renamed its state into it. Two runs writing one --state at once would each rename their
    /// two files in, and the folder could end with one run's manifest beside the other's tensors, both runs exiting 0;
    /// the second is refused instead, at once, before any work. A lock left by a killed run ended with its process.
    /// </summary>
    /// <remarks>
    /// Where another run holds it and --out would be refused anyway (content without --force, a file there), that
    /// refusal is said instead of the "in use" line, which advises waiting for that run: waiting would only lead to it.
    /// </remarks>
    private static FolderLock LockStateFolder(string state, string real, string outDir, bool force)
    {
        FolderLock? held;
        try
        {
            held = FolderLock.TryAcquireToWrite(real, CopalState.LockFileName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--state '{state}': cannot write there: {AtomicDirectory.Reason(e)}", e);
        }
        if (held is null)
        {
            AtomicDirectory.RequireUsable("--out", outDir, force);
            throw InUse("--state", state);
        }
        return held;
    }

    /// <summary>
    /// Deletes the lock file that an earlier version, which locked a state folder through a file in it, left in this
    /// --state folder (an output, locked now): it holds nothing. Never in a --resume folder, which is an input. On
    /// Windows that file is the lock this run holds.
    /// </summary>
    private static void RemoveOldLockFile(string real)
    {
        string old = Path.Combine(real, CopalState.LockFileName);
        if (!OperatingSystem.IsWindows() && File.Exists(old) && new FileInfo(old).LinkTarget is null)
        {
            TemporaryNames.DeleteQuietly(old);
        }
    }

    // Said alike to a writer and a reader: which one the other run is cannot be told from the lock.
    private static IOException InUse(string option, string folder) =>
        new($"{option} '{folder}' is in use by another copal run, which writes a state there or resumes from it (its lock on the folder ends with it); "
            + "run again once that run has ended, or choose another folder");

    /// <summary>
    /// Locks the --resume folder to read from it (<see cref="FolderLock.TryAcquireToRead"/>): shared with other runs
    /// resuming from it, refused while a run writes a state there, and a run that would write there is refused while this
    /// one reads. Nothing in the folder is made or changed: it is an input. Settles there what a killed run left (a state
    /// copy it owed is finished or dropped before it is read, as that run would have). Null where the folder cannot be
    /// opened to lock (this user may not list it): read unlocked then.
    /// </summary>
    private static FolderLock? LockResumeFolder(string resume)
    {
        string real = RealPath.Resolve(resume);
        FolderLock? held = InputFolderLock.AcquireShared(real, () => InUse("--resume", resume));
        if (held is null)
        {
            return null;
        }
        // What a killed run left is settled by one run alone: the lock is made exclusive for it, then shared again (a
        // run that meanwhile took it too is refused, as is this run where another already reads the folder).
        if (TemporaryNames.HasStale(real))
        {
            if (!held.TryConvert(exclusive: true))
            {
                held.Dispose();
                throw InUse("--resume", resume);
            }
            StaleTemporaries.SweepFolder(real);
            if (!held.TryConvert(exclusive: false))
            {
                held.Dispose();
                throw InUse("--resume", resume);
            }
        }
        return held;
    }

    /// <summary>What --calib takes: an empty entry names no text (and an empty list left nothing to calibrate on).</summary>
    internal const string CalibrationExpected = "text files separated by commas, none of them empty (- reads standard input)";

    /// <summary>The --calib texts (none empty: checked while parsing), each as the shell reads it.</summary>
    internal static string[] CalibrationFiles(string? calib) =>
        calib?.Split(',', StringSplitOptions.TrimEntries).Select(RealPath.AsTheKernelReadsIt).ToArray() ?? [];

    /// <summary>--sparsity: an unstructured ratio, checked while parsing.</summary>
    internal static Option<string?> SparsityOption() => new Option<string?>("--sparsity") { Description = $"Unstructured ratio in [0, {SparsityPattern.MaxRatio}], e.g. 0.5" }
        .Accept(v => TryPattern(v) is SparsityPattern.Unstructured ? null : $"a ratio between 0 and {SparsityPattern.MaxRatio} (e.g. 0.5; use --pattern for N:M)");

    /// <summary>--pattern: an N:M pattern, checked while parsing.</summary>
    internal static Option<string?> PatternOption() => new Option<string?>("--pattern") { Description = "N:M semi-structured pattern: N of every M consecutive weights of a row are zeroed (1:4 is 25 % sparse, 2:4 and 4:8 are 50 %); the compact format's n counts the values kept instead" }
        .Accept(v => TryPattern(v) is SparsityPattern.NM ? null : "N:M with whole numbers 0 < N < M (e.g. 2:4; use --sparsity for a ratio)");

    private static SparsityPattern? TryPattern(string text)
    {
        try
        {
            return SparsityPattern.Parse(text);
        }
        catch (PruningOptionException)
        {
            return null;
        }
    }

    /// <summary>The target of --sparsity or --pattern (exactly one; each was checked while parsing).</summary>
    internal static SparsityPattern ParsePattern(string? sparsity, string? pattern)
    {
        if ((sparsity is null) == (pattern is null))
        {
            throw new UsageException("give exactly one of --sparsity (e.g. 0.5) or --pattern (e.g. 2:4)");
        }
        return SparsityPattern.Parse(sparsity ?? pattern!);
    }

    private static bool IsMethod(string method, string name) => string.Equals(method, name, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Options that would do nothing for the chosen method are usage errors naming them and the method, as the COPAL
    /// options are with another method. Magnitude scores weights by size alone: the order of a layer's linears
    /// (--true-sequential) cannot change its masks; without --calib it draws no windows (--seed, --nsamples,
    /// --seqlen), and its only use of --calib is measuring the layers' output errors.
    /// </summary>
    private static void RefuseIgnoredOptions(ParseResult p, string method, Option<string?> calib, Option[] sampling, Option<bool> trueSequential, Option<bool> noLayerError)
    {
        if (!IsMethod(method, "magnitude"))
        {
            return;
        }
        if (p.GetValue(trueSequential))
        {
            throw new UsageException($"{p.Typed(trueSequential)} applies only to --method wanda, sparsegpt or copal (got --method {method}): "
                + "magnitude uses no input statistics, so the order in which a layer's linears are pruned does not change them");
        }
        if (p.GetValue(calib) is null)
        {
            var given = sampling.Where(o => p.GetResult(o) is { Implicit: false }).Select(o => p.Typed(o)).ToList();
            if (given.Count > 0)
            {
                throw UsageException.ApplyOnly(given, $"with --calib (--method {method} without it draws no calibration windows)");
            }
        }
        else if (p.GetValue(noLayerError))
        {
            throw new UsageException($"--calib with --method {method} only measures the layers' output errors, which {p.Typed(noLayerError)} skips; give one of them");
        }
    }

    /// <summary>Every method but magnitude calibrates: --calib is required for it.</summary>
    internal static void RequireCalibration(string method, string? calib)
    {
        if (calib is null && !string.Equals(method, "magnitude", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"--calib is required for --method {method} (it needs the inputs of each layer)");
        }
    }

    /// <summary>
    /// The calibration windows from the --calib texts, a <c>-</c> among them read from standard input (once, as the
    /// files are).
    /// </summary>
    internal static CalibrationSet LoadCalibration(string modelDir, string? calib, ILinearPruner pruner, int nsamples, int seqLen, ulong seed, bool quiet,
        CancellationToken cancellationToken)
    {
        if (calib is null)
        {
            RequireCalibration(pruner.Name, calib);
            // Magnitude needs no data; a two-token placeholder still drives the driver's layer loop.
            return CalibrationSet.None(LlamaConfig.Load(modelDir).BosTokenId ?? 1);
        }
        string[] files = CalibrationFiles(calib);
        foreach (string f in files.Where(f => !Inputs.IsStdio(f)))
        {
            Inputs.TextFile(f, "--calib");
        }
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(modelDir);
        try
        {
            var sources = new List<(string Name, int[] Ids)>(files.Length);
            foreach (string f in files)
            {
                using var tokenizing = new TokenizingProgressLine(Inputs.Describe(f), quiet);
                sources.Add(Inputs.IsStdio(f)
                    ? (Inputs.Describe(f), TextDataset.TokenizeText(tokenizer,
                        TextDataset.Decode(Inputs.ReadBytes(f, "--calib", cancellationToken), Inputs.Describe(f)), TextLayout.Raw, tokenizing, cancellationToken))
                    : (f, TextDataset.Tokenize(tokenizer, f, TextLayout.Raw, tokenizing, cancellationToken)));
                tokenizing.Done();
            }
            int vocab = LlamaConfig.Load(modelDir).VocabSize;
            foreach (var (name, ids) in sources)
            {
                ModelSession.RequireInVocabulary(ids, vocab, tokenizer, modelDir, $"--calib text '{name}'");
            }
            return CalibrationSet.FromTokens(sources, nsamples, seqLen, seed);
        }
        catch (InvalidDataException e)
        {
            // An empty text is the shortest text: a usage error naming the option, as one too short for a window is.
            throw new UsageException($"--calib: {e.Message}");
        }
        catch (CalibrationLimitException e) when (e.OptionsCanHelp)
        {
            throw new UsageException(e.Message);
        }
    }
}
