using System.Diagnostics;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;

namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// Runs the continual evaluation protocol: for every method variant, the datasets arrive one at a time; after each
/// step the model is pruned to the target and evaluated on every dataset's evaluation split (R[t, i]).
/// Variants: COPAL (dense parent + accumulated state, persisted and reloaded between steps as a user would);
/// each baseline as reset (dense model, D_t only) and cumulative (previous step's pruned model, D_t only); and the
/// joint reference (COPAL's estimator on D1..Dt pooled, i.e. with stored past data). Intermediate models live in a
/// temporary folder that is deleted at the end, also on error or cancellation.
/// </summary>
public static class ContinualRunner
{
    /// <summary>How the joint references are pruned, for the report.</summary>
    public const string JointDescription =
        "joint-<method>: at step t, the method calibrated once on D1..Dt pooled, nsamples windows per dataset (t·nsamples in all); it stores past data, " +
        "so it is an upper reference, not a competitor. joint-wanda is Wanda on the pooled data, joint-sparsegpt SparseGPT on it; joint-copal is a fresh COPAL state " +
        "with the same options except the upstream: its statistics always come through this step's pruned model (it has the data to do so). " +
        "Magnitude is data-free: its reset variant is its own joint.";

    /// <summary>The report's words on the joint references where none ran (<see cref="ContinualRequest.Joint"/> false).</summary>
    public const string NoJointDescription =
        "No joint references ran (--no-joint), so intransigence_log is null for the data-dependent methods. Magnitude is data-free: " +
        "its reset variant is its own joint, which did run, so its intransigence_log is measured.";

    /// <summary>What the metrics mean, for the report.</summary>
    public const string MetricsDescription =
        "All in log space (per-token NLL), lower is better. final_gm_ratio = exp(mean_i log(R[T,i]/dense_i)) (primary); " +
        "aia_gm_ratio = exp(mean_t mean_{i≤t} log(R[t,i]/dense_i)) (every step's model counts); " +
        "forgetting_log = mean_{i<T}(log R[T,i] − min_{l<T} log R[l,i]) (compare among data-dependent methods only; magnitude is a reference row); " +
        "intransigence_log = mean_i(log R[i,i] − log R_joint[i,i]) against the method's own joint.";

    /// <summary>The sign convention of BWT, for the report.</summary>
    public const string BwtConvention =
        "classic BWT = 1/(T−1)·Σ_{i<T} (R[T,i] − R[i,i]) in perplexity, kept for readers who know it: positive = perplexity on earlier datasets grew after later steps; " +
        "it is dominated by high-perplexity datasets, depends on each method's own R[i,i] and is 0 for a frozen or data-free method, so it is not used to judge.";

    /// <summary>Runs <paramref name="request"/> on <paramref name="backend"/>.</summary>
    public static ContinualReport Run(ContinualRequest request, IBackend backend, IProgress<ContinualProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(backend);
        return Run(request, Prepare(request, progress, cancellationToken), backend, progress, cancellationToken);
    }

    /// <summary>
    /// Tokenizes every dataset's splits with the model's tokenizer and refuses, before any work, a request the
    /// protocol cannot run (no dataset, method or seed, a repeated name, an unknown method, a window beyond the
    /// model's context, a temporary folder that is a file), a pattern the model's linears cannot take and a
    /// calibration that a dataset cannot give (--nsamples windows of --seqlen each, see <see cref="CalibrationSet.RequireWindows"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A field of <paramref name="request"/> the protocol cannot run with; the message names it, what it expects and what it got.</exception>
    /// <exception cref="CalibrationLimitException">A dataset's calibration text is too short for the request.</exception>
    /// <exception cref="InvalidDataException">A dataset's calibration text is empty, or gives the same tokens as an earlier dataset's.</exception>
    /// <exception cref="PruningOptionException">An N:M pattern does not fit the model's linears.</exception>
    public static ContinualData Prepare(ContinualRequest request, IProgress<ContinualProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.RequireFields(nameof(request));
        LlamaConfig config = LlamaConfig.Load(request.ModelDirectory);
        request.RequireRunnable(nameof(request), config);
        LayerwisePruner.ValidatePattern(config, request.Pattern);
        CheckMethodPatterns(request);
        PruneJob.RequireDenseLinears(request.ModelDirectory);
        int variants = Variants(request).Count;
        int steps = request.Datasets.Count;
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(request.ModelDirectory);
        var calibTokens = new List<int[]>();
        var evalTokens = new List<int[]>();
        foreach (ContinualDataset d in request.Datasets)
        {
            // A text is tokenized whole, the token checked before each word and the progress told as it goes.
            IProgress<TokenizeProgress> Tokenizing(string text) => new Relay<TokenizeProgress>(t => progress?.Report(new ContinualProgress(
                "dense", 0, variants, 0, steps, FormattableString.Invariant($"tokenizing {d.Name} ({text}): {t.CharsDone:N0} of {t.CharsTotal:N0} characters"))));
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new ContinualProgress("dense", 0, variants, 0, steps, $"tokenizing {d.Name}"));
            calibTokens.Add(tokenizer.Encode(d.Calibration.LoadText(), addSpecialTokens: true, Tokenizing("calibration"), cancellationToken));
            evalTokens.Add(tokenizer.Encode(d.Evaluation.LoadText(), addSpecialTokens: true, Tokenizing("evaluation"), cancellationToken));
            CalibrationSet.RequireDescribedWindows([(CalibrationText(d), calibTokens[^1].Length)], request.NSamples, request.SeqLen);
            RequireOwnCalibration(request.Datasets, calibTokens);
        }
        return new ContinualData(calibTokens, evalTokens);
    }

    /// <summary>
    /// Refuses a dataset (the last of <paramref name="calibTokens"/>) whose calibration tokens are an earlier one's:
    /// every seed draws the same windows from both, so COPAL would fold one dataset in twice (as a resumed
    /// <c>prune</c> step refuses an earlier step's windows), and the protocol would measure forgetting between two
    /// datasets that are one.
    /// </summary>
    private static void RequireOwnCalibration(IReadOnlyList<ContinualDataset> datasets, List<int[]> calibTokens)
    {
        int last = calibTokens.Count - 1;
        for (int j = 0; j < last; j++)
        {
            if (calibTokens[last].AsSpan().SequenceEqual(calibTokens[j]))
            {
                throw new InvalidDataException($"'{datasets[last].Name}' calibrates on the same text as '{datasets[j].Name}' (the same {Plural.Of(calibTokens[j].Length, "token")}), "
                    + "so every seed would draw the same windows for both and COPAL would fold one dataset in twice; expected a calibration text of its own for each dataset");
            }
        }
    }

    /// <summary>
    /// How a refusal names a dataset's calibration text: the file (and the half a NAME=FILE dataset calibrates on) and
    /// the dataset, since the name alone does not say which file to lengthen.
    /// </summary>
    private static string CalibrationText(ContinualDataset dataset) => $"calibration text {dataset.Calibration.Quoted} of '{dataset.Name}'";

    /// <summary>
    /// Runs <paramref name="request"/> on <paramref name="backend"/> with its datasets already tokenized by
    /// <see cref="Prepare"/>: the whole protocol once per seed. A pruned model that two variants would make
    /// identically (same method, same input model, same calibration windows; e.g. every variant's step 1 from the
    /// dense model on D1, or every magnitude step) is pruned and evaluated once and shared, and a pruned model whose
    /// weights equal an evaluated one's (a cumulative step whose mask froze) is not evaluated again.
    /// </summary>
    public static ContinualReport Run(ContinualRequest request, ContinualData data, IBackend backend, IProgress<ContinualProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(backend);
        request.RequireFields(nameof(request));
        if (data.CalibrationTokens is null || data.EvaluationTokens is null)
        {
            throw new ArgumentNullException(nameof(data), $"{nameof(ContinualData)}.{(data.CalibrationTokens is null ? nameof(data.CalibrationTokens) : nameof(data.EvaluationTokens))} is null; expected the tokens of ContinualRunner.Prepare");
        }
        // The same checks as Prepare's, for data made from another request, before the dense model is evaluated.
        LlamaConfig config = LlamaConfig.Load(request.ModelDirectory);
        request.RequireRunnable(nameof(request), config);
        LayerwisePruner.ValidatePattern(config, request.Pattern);
        CheckMethodPatterns(request);
        if (data.CalibrationTokens.Count != request.Datasets.Count || data.EvaluationTokens.Count != request.Datasets.Count)
        {
            throw new ArgumentException($"the data holds {data.CalibrationTokens.Count} calibration and {data.EvaluationTokens.Count} evaluation token lists for {request.Datasets.Count} datasets; expected one of each per dataset (ContinualRunner.Prepare of the same request)", nameof(data));
        }
        for (int i = 0; i < request.Datasets.Count; i++)
        {
            if (data.CalibrationTokens[i] is null || data.EvaluationTokens[i] is null)
            {
                throw new ArgumentNullException(nameof(data), FormattableString.Invariant($"the data's token list of dataset {i} ('{request.Datasets[i].Name}') is null; expected the tokens of ContinualRunner.Prepare"));
            }
            CalibrationSet.RequireDescribedWindows([(CalibrationText(request.Datasets[i]), data.CalibrationTokens[i].Length)], request.NSamples, request.SeqLen);
        }
        request.Copal.Validate();
        // A compact model cannot be pruned: refused before the dense evaluation, not at the first prune after it.
        PruneJob.RequireDenseLinears(request.ModelDirectory);
        // The upstream not given is the pattern's default, fixed here so every state of the run records it.
        request = request with { Copal = request.Copal.ForPattern(request.Pattern) };
        var clock = Stopwatch.StartNew();
        var variants = Variants(request);
        IReadOnlyList<ulong> seeds = request.Seeds;
        int steps = request.Datasets.Count;
        IReadOnlyList<int[]> calibTokens = data.CalibrationTokens;
        IReadOnlyList<int[]> evalTokens = data.EvaluationTokens;
        var evalOptions = new PerplexityOptions(request.EvalSeqLen) { LimitChunks = request.EvalLimitChunks };
        int units = variants.Count * seeds.Count;

        // Made before the dense evaluation: a working folder that cannot be made is said now, not after it.
        DirectoryInfo temp = WorkingFolder(request, out IReadOnlyList<string> madeForTemp);
        var runs = new VariantRun[variants.Count, seeds.Count];
        double[] dense;
        string parentHash;
        // Every COPAL state here belongs to the parent hashed once below: PruneJob need not hash it again at each step.
        CopalState Verified(CopalState state)
        {
            state.ParentHashedAt(request.ModelDirectory, parentHash);
            return state;
        }
        try
        {
            dense = Evaluate(request.ModelDirectory, backend, evalTokens, evalOptions, request, p => progress?.Report(p with { Variant = "dense", Variants = units }), 0, cancellationToken);
            parentHash = ParentHash.Compute(request.ModelDirectory, cancellationToken);
            var cache = new ModelCache(temp.FullName);
            cache.AddRow(parentHash, dense);
            for (int s = 0; s < seeds.Count; s++)
            {
                ulong seed = seeds[s];
                for (int v = 0; v < variants.Count; v++)
                {
                    (string name, string method, string kind) = variants[v];
                    int unit = (s * variants.Count) + v;
                    var r = new double[steps][];
                    var pruneSeconds = new double[steps];
                    var evalSeconds = new double[steps];
                    var maskChange = new double?[steps];
                    var peak = new long[steps];
                    string? previousKey = null;
                    CopalState? state = kind == "copal" ? Verified(new CopalState(parentHash, request.ModelDirectory, request.Copal)) : null;
                    for (int t = 0; t < steps; t++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        int step = t + 1;
                        string label = seeds.Count > 1 ? $"{name} (seed {seed})" : name;
                        void Report(string stage) => progress?.Report(new ContinualProgress(label, unit, units, step, steps, stage));
                        CalibrationSet calibration = kind == "joint"
                            ? CalibrationSet.FromTokens(Enumerable.Range(0, step).Select(i => (request.Datasets[i].Name, calibTokens[i])).ToList(), request.NSamples * step, request.SeqLen, seed)
                            : CalibrationSet.FromTokens([(request.Datasets[t].Name, calibTokens[t])], request.NSamples, request.SeqLen, seed);
                        bool dataFree = method == "magnitude";
                        string inputKey = kind == "cumulative" && previousKey is not null ? previousKey : "dense";
                        // COPAL's own state makes its model unique from step 2 on; a fresh state (step 1, joint) is pruned like any method.
                        // A fresh state at step 1 prunes like any pooled calibration (joint's step 1), except through the dense upstream.
                        StatisticsUpstream upstream = kind == "copal" ? request.Copal.ResolvedUpstream : StatisticsUpstream.Pruned;
                        string key = kind == "copal" && t > 0
                            ? $"copal-run|{s}|{Guid.NewGuid():N}"
                            : $"{method}|{inputKey}|{(dataFree ? "data-free" : calibration.Hash)}{(upstream == StatisticsUpstream.Dense ? "|dense-upstream" : "")}";
                        if (!cache.TryGet(key, out ModelCache.Entry? entry))
                        {
                            CopalState? stepState = kind switch
                            {
                                "copal" => state,
                                // The reference: pooled calibration, every dataset through this step's pruned upstream.
                                "joint" when method == "copal" => Verified(new CopalState(parentHash, request.ModelDirectory, request.Copal with { Upstream = StatisticsUpstream.Pruned })),
                                _ => null,
                            };
                            ILinearPruner pruner = stepState is not null ? new CopalPruner(stepState) : PrunerFactory.Create(method);
                            string input = inputKey == "dense" ? request.ModelDirectory : cache.Directory(inputKey);
                            string output = cache.NewDirectory();
                            var pruneRequest = new PruneRequest(input, output, pruner, new PruneOptions(request.Pattern) { MeasureLayerError = false }, calibration)
                            {
                                ExtraFiles = stepState is null ? new Dictionary<string, Action<string, CancellationToken>>() : CopalRun.StateFiles(stepState, calibration, request.Pattern),
                                // No --out names it: a full disk names the folder the user can change instead.
                                OutputName = request.TempDirectory is null ? "the intermediate model (in the system temp folder)" : "the intermediate model (in --temp)",
                            };
                            var pruneClock = Stopwatch.StartNew();
                            PruneJob.Run(pruneRequest, backend, new Relay<PruneProgress>(p => Report(p.Describe())), cancellationToken);
                            pruneSeconds[t] = pruneClock.Elapsed.TotalSeconds;
                            // A model with the same weights as one already evaluated (e.g. a cumulative step whose mask froze) is not evaluated again.
                            Report("hashing the pruned weights");
                            string content = ParentHash.Compute(output, cancellationToken);
                            if (!cache.TryGetRow(content, out double[]? row))
                            {
                                var evalClock = Stopwatch.StartNew();
                                row = Evaluate(output, backend, evalTokens, evalOptions, request, p => progress?.Report(p with { Variant = label, VariantIndex = unit, Variants = units, Step = step }), step, cancellationToken);
                                evalSeconds[t] = evalClock.Elapsed.TotalSeconds;
                                cache.AddRow(content, row);
                            }
                            entry = cache.Add(key, output, row, seedScoped: !dataFree);
                        }
                        if (kind == "copal")
                        {
                            // Continue from the saved files, exactly as `copal prune --resume` would: the run relies on the persisted state.
                            // (The COPAL variant runs before joint, so a shared step-1 entry holds COPAL's own state.)
                            state = Verified(CopalState.Load(entry.Directory));
                            if (state.Options.ResolvedUpstream != request.Copal.ResolvedUpstream)
                            {
                                throw new InvalidOperationException($"the cached step-{step} model of {label} holds a state of upstream {CopalOptions.UpstreamName(state.Options.ResolvedUpstream)}");
                            }
                        }
                        r[t] = entry.Row;
                        if (previousKey is not null)
                        {
                            Report("comparing masks");
                            maskChange[t] = cache.MaskChange(previousKey, key, cancellationToken);
                        }
                        peak[t] = Process.GetCurrentProcess().PeakWorkingSet64;
                        previousKey = key;
                    }
                    runs[v, s] = new VariantRun(r, pruneSeconds, evalSeconds, maskChange, peak);
                }
                cache.EndSeed();
            }
        }
        finally
        {
            TemporaryNames.DeleteQuietly(temp.FullName);
            MadeFolders.RemoveEmpty(madeForTemp);
        }
        var datasetReports = request.Datasets.Select((d, i) => new ContinualDatasetReport(
            d.Name, d.Calibration.ToString(), d.Evaluation.ToString(), calibTokens[i].Length, evalTokens[i].Length, dense[i])).ToList();
        // The COPAL options go into the report only where a COPAL variant (COPAL or its joint) used them.
        bool copalRan = variants.Any(v => v.Method == "copal");
        CopalManifestOptions? copalOptions = copalRan ? new CopalState(parentHash, request.ModelDirectory, request.Copal).Manifest().Options : null;
        IReadOnlyList<VariantReport> reports = Summarize(variants, seeds, dense, (v, s) => runs[v, s]);
        IReadOnlyList<PreconditionReport> preconditions = Preconditions(reports, request.Datasets.Select(d => d.Name).ToList());
        return new ContinualReport(
            request.ModelDirectory, request.Pattern.ToString(), request.NSamples, request.SeqLen, request.EvalSeqLen, request.EvalLimitChunks, seeds,
            $"{backend.Info.Kind} ({backend.Info.DeviceName})", copalOptions, request.Joint ? JointDescription : NoJointDescription, MetricsDescription, BwtConvention,
            PreconditionWarning(preconditions), preconditions, datasetReports, reports,
            clock.Elapsed.TotalSeconds, Process.GetCurrentProcess().PeakWorkingSet64)
        {
            CopalUpstream = copalRan ? CopalOptions.UpstreamName(request.Copal.ResolvedUpstream) : null,
        };
    }

    /// <summary>
    /// The variant reports from the raw runs: every seed's metrics (<see cref="ContinualMetrics"/>), their means, the
    /// intransigence reference of each variant (its method's joint; magnitude's reset) and, against COPAL, the number
    /// of seeds on which COPAL's final_gm_ratio is lower (paired).
    /// </summary>
    /// <param name="variants">(name, method, kind) as <see cref="Variants"/> gives them.</param>
    /// <param name="seeds">The seeds, in run order.</param>
    /// <param name="dense">The dense model's perplexity per dataset.</param>
    /// <param name="run">The raw run of variant v on seed index s.</param>
    public static IReadOnlyList<VariantReport> Summarize(IReadOnlyList<(string Name, string Method, string Kind)> variants, IReadOnlyList<ulong> seeds, IReadOnlyList<double> dense,
        Func<int, int, VariantRun> run)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(dense);
        ArgumentNullException.ThrowIfNull(run);
        var names = variants.Select(v => v.Name).ToList();
        string? Reference((string Name, string Method, string Kind) v)
        {
            string candidate = v.Method == "magnitude" ? "magnitude-reset" : $"joint-{v.Method}";
            return names.Contains(candidate) ? candidate : null;
        }
        var seedRuns = new SeedRun[variants.Count][];
        for (int v = 0; v < variants.Count; v++)
        {
            seedRuns[v] = new SeedRun[seeds.Count];
            string? reference = Reference(variants[v]);
            for (int s = 0; s < seeds.Count; s++)
            {
                VariantRun x = run(v, s);
                double[][]? joint = reference is null ? null : run(names.IndexOf(reference), s).R;
                seedRuns[v][s] = new SeedRun(seeds[s], ContinualMetrics.FinalGmRatio(x.R, dense), ContinualMetrics.AiaGmRatio(x.R, dense), ContinualMetrics.ForgettingLog(x.R),
                    ContinualMetrics.IntransigenceLog(x.R, joint), ContinualMetrics.Bwt(x.R), ContinualMetrics.FinalAverage(x.R), x.R, x.PruneSeconds, x.EvalSeconds, x.MaskChange, x.PeakWorkingSetBytes);
            }
        }
        int copal = names.IndexOf("copal");
        var reports = new List<VariantReport>();
        for (int v = 0; v < variants.Count; v++)
        {
            SeedRun[] rs = seedRuns[v];
            var mean = new MetricSummary(Mean(rs.Select(x => x.FinalGmRatio)), Mean(rs.Select(x => x.AiaGmRatio)), Mean(rs.Select(x => x.ForgettingLog)),
                Mean(rs.Select(x => x.IntransigenceLog)), Mean(rs.Select(x => x.Bwt)));
            int? lower = copal < 0 || v == copal ? null : Enumerable.Range(0, seeds.Count).Count(s => CopalLower(seedRuns[copal][s], rs[s]));
            reports.Add(new VariantReport(variants[v].Name, variants[v].Method, variants[v].Kind, Reference(variants[v]), rs, mean, lower));
        }
        return reports;
    }

    /// <summary>
    /// Whether COPAL's final_gm_ratio is lower than <paramref name="other"/>'s on one seed. A ratio that could not be
    /// formed because a final perplexity overflowed (+∞) is infinitely high: a finite COPAL ratio is lower than it.
    /// (With COPAL's ratio formed, the dense perplexities are finite, so the other's null comes from its own R.)
    /// </summary>
    private static bool CopalLower(SeedRun copal, SeedRun other) => copal.FinalGmRatio is double c
        && (other.FinalGmRatio is double o ? c < o : other.R[^1].Any(double.IsPositiveInfinity));

    /// <summary>For every data-dependent reset variant and seed, whether calibrating on D_i helped D_i (R[i, i] &lt; R[1, i] for i &gt; 1).</summary>
    public static IReadOnlyList<PreconditionReport> Preconditions(IReadOnlyList<VariantReport> variants, IReadOnlyList<string> datasets)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(datasets);
        var list = new List<PreconditionReport>();
        foreach (VariantReport v in variants.Where(v => v.Kind == "reset" && v.Method != "magnitude"))
        {
            foreach (SeedRun s in v.Seeds)
            {
                var failed = ContinualMetrics.PreconditionFailures(s.R).Select(i => datasets[i]).ToList();
                list.Add(new PreconditionReport(v.Name, s.Seed, failed.Count == 0, failed));
            }
        }
        return list;
    }

    /// <summary>The one-line warning for the top of the report when a precondition fails; null when all hold.</summary>
    public static string? PreconditionWarning(IReadOnlyList<PreconditionReport> preconditions)
    {
        ArgumentNullException.ThrowIfNull(preconditions);
        var failed = preconditions.Where(p => !p.Holds).ToList();
        if (failed.Count == 0)
        {
            return null;
        }
        string where = string.Join("; ", failed.GroupBy(p => p.Variant).Select(g =>
            $"{g.Key} on {string.Join("/", g.SelectMany(p => p.Failed).Distinct())} (seed{(g.Count() > 1 ? "s" : "")} {string.Join(",", g.Select(p => p.Seed))})"));
        return $"Precondition failed: calibrating on a later dataset did not improve it over calibrating on the first ({where}); this run measures pre-training-domain affinity, not continual pruning.";
    }

    // A method that cannot apply the pattern (SparseGPT's sweep with an M that does not divide its block) would fail
    // at its first variant, after the dense evaluation and the variants before it: refused here instead.
    private static void CheckMethodPatterns(ContinualRequest request)
    {
        foreach (string method in request.Methods)
        {
            if (string.Equals(method, "copal", StringComparison.OrdinalIgnoreCase))
            {
                CopalPruner.CheckPattern(request.Copal, request.Pattern);
            }
            else if (string.Equals(method, "sparsegpt", StringComparison.OrdinalIgnoreCase))
            {
                new SparseGptOptions().CheckPattern(request.Pattern);
            }
        }
    }

    private static double? Mean(IEnumerable<double?> values)
    {
        var list = values.ToList();
        return list.Count == 0 || list.Any(x => x is null) ? null : list.Average(x => x!.Value);
    }

    /// <summary>
    /// Makes the run's working folder for its intermediate models, in --temp (and any folders above it, removed again
    /// at the end) or the system temp folder; named as this process's temporary, so a second Ctrl-C removes it and a
    /// run after a kill sweeps it. A folder that cannot be made there is one line naming the place.
    /// </summary>
    private static DirectoryInfo WorkingFolder(ContinualRequest request, out IReadOnlyList<string> made)
    {
        string parent = request.TempDirectory ?? Path.GetTempPath();
        made = [];
        try
        {
            made = request.TempDirectory is null ? [] : MadeFolders.Create(request.TempDirectory);
            return new DirectoryInfo(TemporaryNames.CreateFolderIn(parent, "copal-continual"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            MadeFolders.RemoveEmpty(made);
            string place = request.TempDirectory is null ? "the system temp folder" : "--temp";
            throw new IOException($"{place} '{parent}': cannot make the working folder for the intermediate models there: {AtomicDirectory.Reason(e)}", e);
        }
    }

    /// <summary>The variants a request runs, in report order: (name, method, kind).</summary>
    /// <exception cref="ArgumentException">No method, an unknown one or one given twice; the message names the entry of <see cref="ContinualRequest.Methods"/>.</exception>
    public static IReadOnlyList<(string Name, string Method, string Kind)> Variants(ContinualRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var list = new List<(string, string, string)>();
        foreach (string m in request.RequireMethods(nameof(request)))
        {
            if (m == "copal")
            {
                list.Add(("copal", "copal", "copal"));
            }
            else
            {
                list.Add(($"{m}-reset", m, "reset"));
                list.Add(($"{m}-cumulative", m, "cumulative"));
            }
        }
        if (request.Joint)
        {
            // One joint reference per data-dependent method: what pooled calibration reaches with that method.
            foreach (string m in list.Where(x => x.Item2 != "magnitude").Select(x => x.Item2).Distinct().ToList())
            {
                list.Add(($"joint-{m}", m, "joint"));
            }
        }
        return list;
    }

    private static double[] Evaluate(string modelDirectory, IBackend backend, IReadOnlyList<int[]> evalTokens, PerplexityOptions options, ContinualRequest request,
        Action<ContinualProgress> report, int step, CancellationToken cancellationToken)
    {
        using LlamaModel model = LlamaModel.Load(modelDirectory, backend, cancellationToken: cancellationToken);
        var ppl = new double[evalTokens.Count];
        for (int i = 0; i < evalTokens.Count; i++)
        {
            string name = request.Datasets[i].Name;
            report(new ContinualProgress("", 0, 0, step, request.Datasets.Count, $"perplexity on {name}"));
            // Window by window: a 7B evaluation on WikiText-2 takes minutes.
            var windows = new Relay<PerplexityProgress>(p => report(new ContinualProgress("", 0, 0, step, request.Datasets.Count,
                $"perplexity on {name}: window {p.ChunksDone}/{p.ChunksTotal}")));
            try
            {
                ppl[i] = PerplexityEvaluator.Evaluate(model, evalTokens[i], options, progress: windows, cancellationToken: cancellationToken).Perplexity;
            }
            catch (DeviceOutOfMemoryException e) when (e.Remedy is null)
            {
                // Every buffer of the evaluation is sized to its window: the option to lower is --eval-seqlen, which the
                // generic "a shorter context" does not name (continual has no context option).
                throw e.WithShorter("--eval-seqlen", options.SeqLen);
            }
        }
        return ppl;
    }

    /// <summary>
    /// The worst calibration a request runs, estimated before any work: the joint reference pools nsamples windows of
    /// every dataset at the last step; otherwise one dataset's nsamples. Each variant's method is estimated and the
    /// largest taken.
    /// </summary>
    public static CalibrationMemoryEstimate EstimateMemory(ContinualRequest request, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(config);
        request.RequireRunnable(nameof(request), config);
        request = request with { Copal = request.Copal.ForPattern(request.Pattern) };
        var options = new PruneOptions(request.Pattern) { MeasureLayerError = false };
        int linearBytes = CalibrationMemory.LinearBytes(request.ModelDirectory, config);
        CalibrationMemoryEstimate? worst = null;
        foreach ((_, string method, string kind) in Variants(request))
        {
            int samples = kind == "joint" ? request.NSamples * request.Datasets.Count : request.NSamples;
            bool copal = method == "copal";
            bool hessian = copal ? request.Copal.NeedsHessian : PrunerFactory.Create(method).NeedsHessian;
            StatisticsUpstream upstream = copal && kind == "copal" ? request.Copal.ResolvedUpstream : StatisticsUpstream.Pruned;
            CalibrationMemoryEstimate e = CalibrationMemory.Estimate(config, samples, request.SeqLen, method, hessian, options, upstream, linearBytes: linearBytes);
            if (worst is null || e.Total > worst.Total)
            {
                worst = e;
            }
        }
        return worst ?? throw new ArgumentException("the request runs no variant", nameof(request));
    }

    private sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
