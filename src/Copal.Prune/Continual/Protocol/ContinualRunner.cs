using System.Diagnostics;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;

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
    /// <summary>How the joint reference is pruned, for the report.</summary>
    public const string JointDescription =
        "joint: at step t, a fresh COPAL state (same estimator and options) calibrated once on D1..Dt pooled, nsamples windows per dataset " +
        "(t·nsamples in all); it stores past data, so it is an upper reference, not a competitor. With the output estimator and --mask fixed this is Wanda's mask on the pooled data; " +
        "with --mask obs it is SparseGPT on the pooled data.";

    /// <summary>The sign convention of BWT, for the report.</summary>
    public const string BwtConvention =
        "BWT = 1/(T−1)·Σ_{i<T} (R[T,i] − R[i,i]) in perplexity: positive = perplexity on earlier datasets grew after later steps (forgetting); lower is better, negative = the earlier datasets improved.";

    /// <summary>Runs <paramref name="request"/> on <paramref name="backend"/>.</summary>
    public static ContinualReport Run(ContinualRequest request, IBackend backend, IProgress<ContinualProgress>? progress = null, CancellationToken cancellationToken = default)
        => Run(request, Prepare(request, progress), backend, progress, cancellationToken);

    /// <summary>
    /// Tokenizes every dataset's splits with the model's tokenizer and refuses, before any work, a calibration that a
    /// dataset cannot give (--nsamples windows of --seqlen each, see <see cref="CalibrationSet.RequireWindows"/>).
    /// </summary>
    /// <exception cref="CalibrationLimitException">A dataset's calibration text is too short for the request.</exception>
    public static ContinualData Prepare(ContinualRequest request, IProgress<ContinualProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        int variants = Variants(request).Count;
        int steps = request.Datasets.Count;
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(request.ModelDirectory);
        var calibTokens = new List<int[]>();
        var evalTokens = new List<int[]>();
        foreach (ContinualDataset d in request.Datasets)
        {
            progress?.Report(new ContinualProgress("dense", 0, variants, 0, steps, $"tokenizing {d.Name}"));
            calibTokens.Add(tokenizer.Encode(d.Calibration.LoadText(), addSpecialTokens: true));
            evalTokens.Add(tokenizer.Encode(d.Evaluation.LoadText(), addSpecialTokens: true));
            CalibrationSet.RequireWindows([(d.Name, calibTokens[^1].Length)], request.NSamples, request.SeqLen);
        }
        return new ContinualData(calibTokens, evalTokens);
    }

    /// <summary>Runs <paramref name="request"/> on <paramref name="backend"/> with its datasets already tokenized by <see cref="Prepare"/>.</summary>
    public static ContinualReport Run(ContinualRequest request, ContinualData data, IBackend backend, IProgress<ContinualProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(backend);
        request.Copal.Validate();
        var clock = Stopwatch.StartNew();
        var variants = Variants(request);
        int steps = request.Datasets.Count;
        IReadOnlyList<int[]> calibTokens = data.CalibrationTokens;
        IReadOnlyList<int[]> evalTokens = data.EvaluationTokens;
        var evalOptions = new PerplexityOptions(request.EvalSeqLen) { LimitChunks = request.EvalLimitChunks };

        double[] dense = Evaluate(request.ModelDirectory, backend, evalTokens, evalOptions, request, p => progress?.Report(p with { Variant = "dense", Variants = variants.Count }), 0, cancellationToken);
        var datasetReports = request.Datasets.Select((d, i) => new ContinualDatasetReport(
            d.Name, d.Calibration.ToString(), d.Evaluation.ToString(), calibTokens[i].Length, evalTokens[i].Length, dense[i])).ToList();

        string parentHash = ParentHash.Compute(request.ModelDirectory, cancellationToken);
        DirectoryInfo temp = request.TempDirectory is null
            ? Directory.CreateTempSubdirectory("copal-continual-")
            : Directory.CreateDirectory(Path.Combine(request.TempDirectory, $"copal-continual-{Guid.NewGuid():N}"[..24]));
        var reports = new List<VariantReport>();
        try
        {
            for (int v = 0; v < variants.Count; v++)
            {
                (string name, string method, string kind) = variants[v];
                var r = new double[steps][];
                var pruneSeconds = new double[steps];
                var evalSeconds = new double[steps];
                var maskChange = new double?[steps];
                var peak = new long[steps];
                string? previous = null;
                CopalState? state = kind == "copal" ? new CopalState(parentHash, request.ModelDirectory, request.Copal) : null;
                for (int t = 0; t < steps; t++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int step = t + 1;
                    void Report(string stage) => progress?.Report(new ContinualProgress(name, v, variants.Count, step, steps, stage));
                    CalibrationSet calibration = kind == "joint"
                        ? CalibrationSet.FromTokens(Enumerable.Range(0, step).Select(i => (request.Datasets[i].Name, calibTokens[i])).ToList(), request.NSamples * step, request.SeqLen, request.Seed)
                        : CalibrationSet.FromTokens([(request.Datasets[t].Name, calibTokens[t])], request.NSamples, request.SeqLen, request.Seed);
                    ILinearPruner pruner = kind switch
                    {
                        "copal" => new CopalPruner(state!),
                        "joint" => new CopalPruner(new CopalState(parentHash, request.ModelDirectory, request.Copal)),
                        _ => PrunerFactory.Create(method),
                    };
                    string input = kind == "cumulative" && previous is not null ? previous : request.ModelDirectory;
                    string output = Path.Combine(temp.FullName, name, $"step-{step}");
                    var pruneRequest = new PruneRequest(input, output, pruner, new PruneOptions(request.Pattern) { MeasureLayerError = false }, calibration)
                    {
                        ExtraFiles = state is null ? new Dictionary<string, Action<string>>() : CopalRun.StateFiles(state, calibration, request.Pattern),
                    };
                    var pruneClock = Stopwatch.StartNew();
                    PruneJob.Run(pruneRequest, backend, new Relay<PruneProgress>(p => Report($"pruning layer {p.Layer + 1}/{p.Layers}: {p.Stage}")), cancellationToken);
                    pruneSeconds[t] = pruneClock.Elapsed.TotalSeconds;
                    if (state is not null)
                    {
                        // Continue from the saved files, exactly as `copal prune --resume` would: the run relies on the persisted state.
                        state = CopalState.Load(output);
                    }
                    var evalClock = Stopwatch.StartNew();
                    r[t] = Evaluate(output, backend, evalTokens, evalOptions, request, p => progress?.Report(p with { Variant = name, VariantIndex = v, Variants = variants.Count, Step = step }), step, cancellationToken);
                    evalSeconds[t] = evalClock.Elapsed.TotalSeconds;
                    if (previous is not null)
                    {
                        Report("comparing masks");
                        maskChange[t] = MaskDrift.Fraction(previous, output, cancellationToken);
                        Directory.Delete(previous, recursive: true);
                    }
                    peak[t] = Process.GetCurrentProcess().PeakWorkingSet64;
                    previous = output;
                }
                reports.Add(new VariantReport(name, method, kind, r, FinalAverage(r), Bwt(r), pruneSeconds, evalSeconds, maskChange, peak));
            }
        }
        finally
        {
            DeleteQuietly(temp);
        }
        CopalStateManifest m = new CopalState(parentHash, request.ModelDirectory, request.Copal).Manifest();
        return new ContinualReport(
            request.ModelDirectory, request.Pattern.ToString(), request.NSamples, request.SeqLen, request.EvalSeqLen, request.EvalLimitChunks, request.Seed,
            $"{backend.Info.Kind} ({backend.Info.DeviceName})", m.Options, JointDescription, BwtConvention, datasetReports, reports,
            clock.Elapsed.TotalSeconds, Process.GetCurrentProcess().PeakWorkingSet64);
    }

    /// <summary>Σ_i R[T, i] / T.</summary>
    public static double FinalAverage(double[][] r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return r[^1].Average();
    }

    /// <summary>1/(T−1)·Σ_{i&lt;T} (R[T, i] − R[i, i]), or null for T = 1.</summary>
    public static double? Bwt(double[][] r)
    {
        ArgumentNullException.ThrowIfNull(r);
        int t = r.Length;
        if (t < 2)
        {
            return null;
        }
        double sum = 0;
        for (int i = 0; i < t - 1; i++)
        {
            sum += r[t - 1][i] - r[i][i];
        }
        return sum / (t - 1);
    }

    /// <summary>The variants a request runs, in report order: (name, method, kind).</summary>
    public static IReadOnlyList<(string Name, string Method, string Kind)> Variants(ContinualRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var list = new List<(string, string, string)>();
        foreach (string raw in request.Methods)
        {
            string m = raw.Trim().ToLowerInvariant();
            if (m == "copal")
            {
                list.Add(("copal", "copal", "copal"));
            }
            else if (m is "magnitude" or "wanda" or "sparsegpt")
            {
                list.Add(($"{m}-reset", m, "reset"));
                list.Add(($"{m}-cumulative", m, "cumulative"));
            }
            else
            {
                throw new PruningOptionException("methods", raw, "a comma-separated list of copal, magnitude, wanda, sparsegpt");
            }
        }
        if (list.Select(x => x.Item1).Distinct().Count() != list.Count)
        {
            throw new PruningOptionException("methods", string.Join(",", request.Methods), "each method at most once");
        }
        if (request.Joint)
        {
            list.Add(("joint", "copal", "joint"));
        }
        return list;
    }

    private static double[] Evaluate(string modelDirectory, IBackend backend, IReadOnlyList<int[]> evalTokens, PerplexityOptions options, ContinualRequest request,
        Action<ContinualProgress> report, int step, CancellationToken cancellationToken)
    {
        using LlamaModel model = LlamaModel.Load(modelDirectory, backend);
        var ppl = new double[evalTokens.Count];
        for (int i = 0; i < evalTokens.Count; i++)
        {
            string name = request.Datasets[i].Name;
            report(new ContinualProgress("", 0, 0, step, request.Datasets.Count, $"perplexity on {name}"));
            ppl[i] = PerplexityEvaluator.Evaluate(model, evalTokens[i], options, cancellationToken: cancellationToken).Perplexity;
        }
        return ppl;
    }

    private static void DeleteQuietly(DirectoryInfo dir)
    {
        try
        {
            if (dir.Exists)
            {
                dir.Delete(recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind must not hide the run's own error.
        }
        catch (UnauthorizedAccessException)
        {
        }
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
        var options = new PruneOptions(request.Pattern) { MeasureLayerError = false };
        CalibrationMemoryEstimate? worst = null;
        foreach ((_, string method, string kind) in Variants(request))
        {
            int samples = kind == "joint" ? request.NSamples * request.Datasets.Count : request.NSamples;
            bool hessian = kind is "copal" or "joint" ? request.Copal.NeedsHessian : PrunerFactory.Create(method).NeedsHessian;
            CalibrationMemoryEstimate e = CalibrationMemory.Estimate(config, samples, request.SeqLen, method, hessian, options,
                kind is "copal" or "joint" ? request.Copal.MaxHessianStateBytes : null);
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
