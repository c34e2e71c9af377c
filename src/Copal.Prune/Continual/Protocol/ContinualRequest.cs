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
        for (int i = 0; i < Datasets.Count; i++)
        {
            Require(Datasets[i], $"Datasets[{i}]", "a dataset");
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
}

/// <summary>One variant's protocol run on one seed, before the metrics: R[step][dataset] and per-step costs.</summary>
/// <param name="R">The perplexity matrix [step][dataset].</param>
/// <param name="PruneSeconds">Wall time of each step's pruning (0 where the model was shared with another variant).</param>
/// <param name="EvalSeconds">Wall time of each step's evaluation (0 where shared).</param>
/// <param name="MaskChange">Fraction of prunable weights whose zero/non-zero status changed from the previous step (null at step 1).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set after each step.</param>
public sealed record VariantRun(double[][] R, double[] PruneSeconds, double[] EvalSeconds, double?[] MaskChange, long[] PeakWorkingSetBytes);

/// <summary>A request's datasets tokenized with the model's tokenizer (<see cref="ContinualRunner.Prepare"/>), in arrival order.</summary>
public sealed record ContinualData(IReadOnlyList<int[]> CalibrationTokens, IReadOnlyList<int[]> EvaluationTokens);

/// <summary>Where a continual run is.</summary>
/// <param name="Variant">The method variant being run ("copal", "wanda-reset", …, or "dense").</param>
/// <param name="VariantIndex">0-based index of the variant.</param>
/// <param name="Variants">How many variants run.</param>
/// <param name="Step">1-based step (dataset) being pruned or evaluated; 0 for the dense model.</param>
/// <param name="Steps">T.</param>
/// <param name="Stage">What is happening ("pruning layer 3/5", "perplexity on ptb").</param>
public readonly record struct ContinualProgress(string Variant, int VariantIndex, int Variants, int Step, int Steps, string Stage);
