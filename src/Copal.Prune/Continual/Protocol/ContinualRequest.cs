using Copal.Model.Config;
using Copal.Tensors.IO;

namespace Copal.Prune.Continual.Protocol;

/// <summary>A run of the continual evaluation protocol (see docs/copal.md).</summary>
/// <param name="ModelDirectory">The dense pretrained model.</param>
/// <param name="Datasets">D1..DT in arrival order.</param>
/// <param name="Methods">Among copal, magnitude, wanda, sparsegpt; each baseline runs as reset and cumulative.</param>
/// <param name="Pattern">The target sparsity at every step.</param>
/// <param name="NSamples">Calibration windows per dataset and step.</param>
/// <param name="SeqLen">Tokens per calibration window.</param>
/// <param name="EvalSeqLen">Perplexity window length.</param>
/// <param name="Seeds">Seeds of the calibration window offsets: the protocol runs once per seed (each the same at every step).</param>
/// <param name="Copal">The COPAL options (also used by the joint reference).</param>
public sealed record ContinualRequest(
    string ModelDirectory,
    IReadOnlyList<ContinualDataset> Datasets,
    IReadOnlyList<string> Methods,
    SparsityPattern Pattern,
    int NSamples,
    int SeqLen,
    int EvalSeqLen,
    IReadOnlyList<ulong> Seeds,
    CopalOptions Copal)
{
    /// <summary>Evaluate at most this many perplexity windows per dataset (null: all).</summary>
    public int? EvalLimitChunks { get; init; }

    /// <summary>Also run the joint reference (pooled calibration of D1..Dt at step t).</summary>
    public bool Joint { get; init; } = true;

    /// <summary>Where the intermediate pruned models go (a fresh subfolder, deleted at the end); null: the system temp folder.</summary>
    public string? TempDirectory { get; init; }

    /// <summary>
    /// Refuses a request with a null field or list entry (a record's positional fields and <c>with</c> take null at
    /// run time) before any work, naming the field.
    /// </summary>
    internal void RequireFields(string parameter)
    {
        Require(ModelDirectory, nameof(ModelDirectory), "the dense model folder");
        Require(Datasets, nameof(Datasets), "the datasets in arrival order");
        Require(Methods, nameof(Methods), "the method names");
        Require(Pattern, nameof(Pattern), "a sparsity pattern");
        Require(Seeds, nameof(Seeds), "the seeds");
        Require(Copal, nameof(Copal), "the COPAL options (new CopalOptions() for the defaults)");
        if (ModelDirectory.Length == 0)
        {
            // "" is no folder: the model's files would be read from the working folder.
            throw new ArgumentException($"{nameof(ContinualRequest)}.{nameof(ModelDirectory)} is empty; expected the dense model folder", parameter);
        }
        for (int i = 0; i < Datasets.Count; i++)
        {
            Require(Datasets[i], $"Datasets[{i}]", "a dataset");
        }
        for (int i = 0; i < Datasets.Count; i++)
        {
            Require(Datasets[i].Name, $"Datasets[{i}].Name", "the dataset's name");
            Require(Datasets[i].Calibration, $"Datasets[{i}].Calibration", "the calibration split");
            Require(Datasets[i].Evaluation, $"Datasets[{i}].Evaluation", "the evaluation split");
        }
        for (int i = 0; i < Methods.Count; i++)
        {
            Require(Methods[i], $"Methods[{i}]", "a method name");
        }

        void Require(object? value, string field, string expected)
        {
            if (value is null)
            {
                throw new ArgumentNullException(parameter, $"{nameof(ContinualRequest)}.{field} is null; expected {expected}");
            }
        }
    }

    /// <summary>The methods <see cref="Methods"/> may name (any case, surrounding spaces ignored).</summary>
    public static IReadOnlyList<string> MethodNames { get; } = ["copal", "magnitude", "wanda", "sparsegpt"];

    /// <summary>
    /// <see cref="Methods"/> as lower-case names: at least one, each known and given once; otherwise an
    /// <see cref="ArgumentException"/> naming the entry, what it expects and what it got.
    /// </summary>
    internal IReadOnlyList<string> RequireMethods(string parameter)
    {
        RequireFields(parameter);
        string known = string.Join(", ", MethodNames);
        if (Methods.Count == 0)
        {
            throw Invalid(parameter, nameof(Methods), $"at least one of {known}", "none");
        }
        var names = new List<string>(Methods.Count);
        for (int i = 0; i < Methods.Count; i++)
        {
            string name = Methods[i].Trim().ToLowerInvariant();
            if (!MethodNames.Contains(name))
            {
                throw Invalid(parameter, $"Methods[{i}]", $"one of {known}", Quoted(Methods[i]));
            }
            int first = names.IndexOf(name);
            if (first >= 0)
            {
                throw Invalid(parameter, $"Methods[{i}]", "each method at most once", $"{Quoted(Methods[i])} again (Methods[{first}] is {Quoted(Methods[first])})");
            }
            names.Add(name);
        }
        return names;
    }

    /// <summary>
    /// Refuses, before any work, a request the protocol cannot run on the model of <paramref name="config"/>: no
    /// dataset, method or seed; a dataset name that is empty or repeated; an unknown or repeated method; a repeated
    /// seed; a window count or length the model cannot take; a temporary folder that is a file or lies in the model
    /// folder. An <see cref="ArgumentException"/> names the field, what it expects and what it got (an
    /// <see cref="IOException"/> from <see cref="PathGuard"/> the temporary folder inside the model's).
    /// </summary>
    internal void RequireRunnable(string parameter, LlamaConfig config)
    {
        RequireFields(parameter);
        if (Datasets.Count == 0)
        {
            throw Invalid(parameter, nameof(Datasets), "at least one dataset (D1..DT in arrival order)", "none");
        }
        for (int i = 0; i < Datasets.Count; i++)
        {
            string name = Datasets[i].Name;
            if (string.IsNullOrWhiteSpace(name))
            {
                throw Invalid(parameter, $"Datasets[{i}].Name", "a name for the reports", Quoted(name));
            }
            for (int j = 0; j < i; j++)
            {
                if (string.Equals(Datasets[j].Name, name, StringComparison.Ordinal))
                {
                    throw Invalid(parameter, $"Datasets[{i}].Name", "a name no other dataset has", $"{Quoted(name)}, the name of Datasets[{j}]");
                }
            }
        }
        RequireMethods(parameter);
        if (Seeds.Count == 0)
        {
            throw Invalid(parameter, nameof(Seeds), "at least one seed", "none");
        }
        for (int i = 0; i < Seeds.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (Seeds[j] == Seeds[i])
                {
                    throw Invalid(parameter, $"Seeds[{i}]", "distinct seeds", FormattableString.Invariant($"{Seeds[i]} again (Seeds[{j}])"));
                }
            }
        }
        if (NSamples < 1)
        {
            throw Invalid(parameter, nameof(NSamples), "at least 1 calibration window per dataset and step", FormattableString.Invariant($"{NSamples}"));
        }
        int context = config.MaxPositionEmbeddings;
        foreach ((string field, int value, string what) in new[] { (nameof(SeqLen), SeqLen, "calibration window"), (nameof(EvalSeqLen), EvalSeqLen, "perplexity window") })
        {
            if (value < 2 || value > context)
            {
                throw Invalid(parameter, field, FormattableString.Invariant($"a {what} of 2 to {context} tokens (the model's context)"), FormattableString.Invariant($"{value}"));
            }
        }
        if (EvalLimitChunks is int limit && limit < 1)
        {
            throw Invalid(parameter, nameof(EvalLimitChunks), "at least 1 window per dataset, or null for all", FormattableString.Invariant($"{limit}"));
        }
        if (TempDirectory is string temp)
        {
            if (string.IsNullOrWhiteSpace(temp))
            {
                throw Invalid(parameter, nameof(TempDirectory), "a folder, or null for the system temp folder", Quoted(temp));
            }
            if (File.Exists(RealPath.Resolve(temp)))
            {
                throw Invalid(parameter, nameof(TempDirectory), "a folder, or null for the system temp folder", $"the file '{temp}'");
            }
            PathGuard.RequireOutside(temp, $"{nameof(ContinualRequest)}.{nameof(TempDirectory)}", ModelDirectory, "the dense model folder");
        }
    }

    private static ArgumentException Invalid(string parameter, string field, string expected, string got) =>
        new($"{nameof(ContinualRequest)}.{field}: expected {expected}, got {got}", parameter);

    private static string Quoted(string text) => text.Length == 0 ? "an empty string" : $"'{text}'";
}

/// <summary>One variant's protocol run on one seed, before the metrics: R[step][dataset] and per-step costs.</summary>
/// <param name="R">The perplexity matrix [step][dataset].</param>
/// <param name="PruneSeconds">Wall time of each step's pruning (0 where the model was shared with another variant).</param>
/// <param name="EvalSeconds">Wall time of each step's evaluation (0 where shared).</param>
/// <param name="MaskChange">Fraction of prunable weights whose zero/non-zero status changed from the previous step (null at step 1).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set after each step.</param>
public sealed record VariantRun(double[][] R, double[] PruneSeconds, double[] EvalSeconds, double?[] MaskChange, long[] PeakWorkingSetBytes);

/// <summary>A request's datasets tokenized with the model's tokenizer (<see cref="ContinualRunner.Prepare"/>), in arrival order.</summary>
/// <param name="CalibrationTokens">Each dataset's calibration split, tokenized with BOS as the tokenizer adds it.</param>
/// <param name="EvaluationTokens">Each dataset's evaluation split, likewise.</param>
public sealed record ContinualData(IReadOnlyList<int[]> CalibrationTokens, IReadOnlyList<int[]> EvaluationTokens);

/// <summary>Where a continual run is.</summary>
/// <param name="Variant">The method variant being run ("copal", "wanda-reset", …, or "dense").</param>
/// <param name="VariantIndex">0-based index of the variant.</param>
/// <param name="Variants">How many variants run.</param>
/// <param name="Step">1-based step (dataset) being pruned or evaluated; 0 for the dense model.</param>
/// <param name="Steps">T.</param>
/// <param name="Stage">What is happening ("pruning layer 3/5", "perplexity on ptb").</param>
public readonly record struct ContinualProgress(string Variant, int VariantIndex, int Variants, int Step, int Steps, string Stage);
