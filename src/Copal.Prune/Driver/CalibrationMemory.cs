using System.Globalization;
using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Prune.Continual;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Driver;

/// <summary>
/// What a layer-sequential pruning run allocates, estimated from the shapes alone before any work (bytes). The
/// parts follow <see cref="LayerwisePruner"/>: the calibration activations of every sample, the forward buffers of
/// one layer pass (a <c>RunState</c> of seqlen rows with its KV cache), the statistics of a layer's inputs, one
/// layer's pruned copies with the largest linear's method workspace, and the COPAL state.
/// </summary>
/// <param name="Samples">Calibration windows.</param>
/// <param name="SeqLen">Tokens per window.</param>
/// <param name="Activations">samples × seqlen × hidden × 4: every sample's input to the current layer, kept in host memory.</param>
/// <param name="Forward">The forward buffers of one layer pass over a window, its KV cache and the work buffers.</param>
/// <param name="Statistics">The peak of the input statistics while collecting: per input group cols × 16 bytes, and cols² × 12 with a Hessian (f32 sums on the backend, f64 means) plus a piece of at most 4 MiB on the host.</param>
/// <param name="Pruning">One layer's pruned copies plus the largest of any linear's workspace with the statistics still held while it is pruned.</param>
/// <param name="State">COPAL's state in memory (every linear's column sensitivities; the accumulated Hessians held at once); 0 for the other methods.</param>
public sealed record CalibrationMemoryEstimate(int Samples, int SeqLen, long Activations, long Forward, long Statistics, long Pruning, long State)
{
    /// <summary>
    /// False for a run with no forward pass (magnitude without the layer error): no activations, forward buffers or
    /// statistics, only the pruning of one linear at a time (<see cref="CalibrationMemory.ConcurrentLinears"/> runs
    /// more at once where the memory allows).
    /// </summary>
    public bool ForwardPasses { get; init; } = true;

    /// <summary>The estimated peak: activations, forward buffers and state always; statistics or pruning, whichever is larger.</summary>
    public long Total => Activations + Forward + State + Math.Max(Statistics, Pruning);

    /// <summary>One line: the total and its parts, in binary units.</summary>
    public override string ToString() => ForwardPasses
        ? string.Create(CultureInfo.InvariantCulture,
            $"{ByteSize.Format(Total)} (activations {ByteSize.Format(Activations)} for {Samples} × {SeqLen} tokens, " +
            $"forward buffers {ByteSize.Format(Forward)}, statistics {ByteSize.Format(Statistics)}, " +
            $"pruning {ByteSize.Format(Pruning)}{(State > 0 ? $", COPAL state {ByteSize.Format(State)}" : "")})")
        : $"{ByteSize.Format(Total)} (pruning one layer's linears, one at a time; no forward pass)";
}

/// <summary>Estimates a pruning run's memory up front (<see cref="CalibrationMemoryEstimate"/>) and refuses runs that cannot fit.</summary>
internal static class CalibrationMemory
{
    /// <summary>
    /// Bytes of one stored element of the decoder layers' linears (the widest, where they differ), which a pruned copy
    /// of each is written in: read from the checkpoint, since a config's <c>torch_dtype</c> may disagree with the tensors
    /// (an F32 checkpoint whose config says bfloat16 held twice what its estimate counted).
    /// </summary>
    public static int LinearBytes(SafetensorsCheckpoint source, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(config);
        int widest = 0;
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (LinearId id in LinearIds.All)
            {
                if (source.TryGet(LlamaTensorNames.Linear(layer, id), out TensorView view))
                {
                    widest = Math.Max(widest, view.DType.SizeOf());
                }
            }
        }
        return widest > 0 ? widest : ConfigLinearBytes(config);
    }

    /// <summary><see cref="LinearBytes(SafetensorsCheckpoint, LlamaConfig)"/> of the checkpoint in <paramref name="directory"/> (its headers alone are read).</summary>
    public static int LinearBytes(string directory, LlamaConfig config)
    {
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(directory, config);
        return LinearBytes(source, config);
    }

    /// <summary>
    /// Bytes of one stored element of the embedding and lm_head (the wider), which <c>--include-embeddings</c> writes
    /// their pruned copies in: a checkpoint may keep them in another dtype than its linears (F32 beside BF16).
    /// </summary>
    public static int HeadBytes(SafetensorsCheckpoint source, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(config);
        int widest = 0;
        foreach (string name in (string[])[LlamaTensorNames.Embedding, LlamaTensorNames.LmHead])
        {
            if (source.TryGet(name, out TensorView view))
            {
                widest = Math.Max(widest, view.DType.SizeOf());
            }
        }
        return widest > 0 ? widest : ConfigLinearBytes(config);
    }

    // Without the checkpoint: the config's dtype, 4 bytes when it names none.
    private static int ConfigLinearBytes(LlamaConfig config) => config.TorchDtype is "bfloat16" or "float16" ? 2 : 4;

    /// <summary>
    /// Estimates a run of <paramref name="pruner"/> (its method, whether it needs a Hessian, COPAL's state) under <paramref name="options"/>,
    /// with linears of <paramref name="linearBytes"/> bytes an element (<see cref="LinearBytes(SafetensorsCheckpoint, LlamaConfig)"/>; default: the config's dtype)
    /// and an embedding and lm_head of <paramref name="headBytes"/> (<see cref="HeadBytes"/>; default: the linears').
    /// </summary>
    public static CalibrationMemoryEstimate Estimate(LlamaConfig config, int samples, int seqLen, ILinearPruner pruner, PruneOptions options, int? linearBytes = null,
        int? headBytes = null)
    {
        ArgumentNullException.ThrowIfNull(pruner);
        CalibrationMemoryEstimate estimate = Estimate(config, samples, seqLen, pruner.Name, pruner.NeedsHessian, options,
            options.DenseUpstream ? StatisticsUpstream.Dense : pruner.Upstream, pruner.NeedsUpstreamShift && !options.DenseUpstream, linearBytes, headBytes);
        // Without a forward pass the driver holds no activations, layer state or statistics (LayerwisePruner.RunWithoutData).
        return LayerwisePruner.RunsForwardPasses(pruner, options)
            ? estimate
            : estimate with { Activations = 0, Forward = 0, Statistics = 0, ForwardPasses = false };
    }

    /// <summary>
    /// How many of a layer's linears a run without forward passes prunes at once: each holds its own workspace (for a
    /// 7B MLP linear and magnitude about 0.8 GB), so as many as <paramref name="availableBytes"/> holds beyond
    /// <paramref name="estimate"/> (which counts one), at most <paramref name="cores"/> and the layer's seven.
    /// </summary>
    public static int ConcurrentLinears(CalibrationMemoryEstimate estimate, LlamaConfig config, ILinearPruner pruner, long availableBytes, int cores, int? linearBytes = null)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pruner);
        long largest = LinearIds.All.Max(id => LinearWorkspace(config, pruner, id, linearBytes));
        long spare = Math.Max(0, availableBytes - estimate.Total);
        return (int)Math.Clamp(1 + (spare / Math.Max(1, largest)), 1, Math.Max(1, Math.Min(cores, LinearIds.All.Count)));
    }

    /// <summary>What pruning linear <paramref name="id"/> of a layer holds besides the statistics: its copies and the method's arrays.</summary>
    internal static long LinearWorkspace(LlamaConfig config, ILinearPruner pruner, LinearId id, int? linearBytes = null)
    {
        (int o, int i) = LlamaWeights.LinearShape(config, id);
        return Workspace(pruner.Name, pruner.NeedsHessian, o, i, linearBytes ?? ConfigLinearBytes(config));
    }

    /// <summary>
    /// Estimates a run of <paramref name="method"/> ("magnitude", "wanda", "sparsegpt", "copal"). COPAL's state holds
    /// every linear's column vector in memory, and of the accumulated Hessians one large matrix or one layer's small
    /// ones (the rest are on disk).
    /// <see cref="StatisticsUpstream.Mixed"/> doubles the activations, the statistics while collected and the state's
    /// Hessians (both upstreams are kept), and adds the mixed Hessian a sweep runs on;
    /// <see cref="StatisticsUpstream.DensePast"/> the same, but its state keeps one Hessian per input group.
    /// <paramref name="upstreamShift"/> (<see cref="InputStatistics.UpstreamShift"/>) runs the dense upstream beside the
    /// pruned one too, and adds one cross-term matrix per input group while collected and held, and to the state.
    /// </summary>
    public static CalibrationMemoryEstimate Estimate(LlamaConfig config, int samples, int seqLen, string method, bool needsHessian, PruneOptions options,
        StatisticsUpstream upstream = StatisticsUpstream.Pruned, bool upstreamShift = false, int? linearBytes = null, int? headBytes = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        const long F32 = sizeof(float), F64 = sizeof(double);
        long hidden = config.HiddenSize, rows = seqLen;
        long dtype = linearBytes ?? ConfigLinearBytes(config);

        long sides = upstream.CollectsBoth() ? 2 : 1;
        long stateSides = upstream == StatisticsUpstream.Mixed ? 2 : 1;
        long passes = upstreamShift ? 2 : sides;
        long activations = passes * samples * rows * hidden * F32;

        // The layer state (LlamaModel.CreateLayerState): activations of one pass, one row of logits, one layer's KV
        // cache (shared by all), RoPE tables; plus the driver's work buffer, and with the layer error a second one and
        // its host copy.
        long runState = rows * ((3 * hidden) + (2L * config.QDim) + (2L * config.KvDim) + (2L * config.IntermediateSize)) * F32
            + (config.VocabSize * F32)
            + (2L * rows * config.KvDim * F32)
            + (rows * config.HeadDim * F32);
        long work = rows * hidden * F32 * (options.MeasureLayerError ? 3 : 1);
        long forward = runState + work;

        // Input groups: q/k/v share hidden, o reads qDim, gate/up hidden, down intermediate.
        long[] groups = [hidden, config.QDim, hidden, config.IntermediateSize];
        // Collecting: column sums f32 on the backend and host, f64 means; the Gram f32 on the backend, f64 means, and
        // one piece of it on the host at a time (StatisticsTap).
        // The shift: one sample's sums f32 and their f64 total (made the mean in place), and both passes' inputs on the host.
        long Shift(long cols) => upstreamShift ? (cols * cols * 12) + (2 * rows * cols * F32) : 0;
        long Collect(long cols) => (passes * cols * 16) + (sides * (needsHessian ? (cols * cols * 12) + (Math.Min(StatisticsTap.GramPiece, cols * cols) * F32) : 0)) + Shift(cols);
        long Held(long cols) => (cols * F64) + (needsHessian ? cols * cols * F64 : 0) + (upstreamShift ? cols * cols * F64 : 0);
        long statistics = options.TrueSequential ? groups.Max(Collect) : groups.Sum(Collect);
        if (options.IncludeEmbeddings)
        {
            statistics = Math.Max(statistics, Collect(hidden));
        }

        // While a linear is pruned the driver holds its own group's statistics and those of the groups after it (a
        // group's are dropped after its last linear; with --true-sequential only its own group's exist); the dense
        // side of mixed statistics only for the later groups (COPAL folds its own group's into the state first).
        long pruned = 0, pruning = 0;
        foreach (LinearId id in LinearIds.All)
        {
            (int o, int i) = LlamaWeights.LinearShape(config, id);
            pruned += (long)o * i * dtype;
            LinearId leader = id.InputGroupLeader();
            long held = Held(i);
            if (!options.TrueSequential)
            {
                foreach (LinearId later in LinearIds.All.Where(l => l == l.InputGroupLeader() && l > leader))
                {
                    held += sides * Held(LlamaWeights.LinearShape(config, later).In);
                }
            }
            long mixedHessian = sides > 1 && needsHessian ? i * (long)i * F32 : 0;
            pruning = Math.Max(pruning, held + mixedHessian + Workspace(method, needsHessian, o, i, dtype));
        }
        pruning += pruned;
        if (options.IncludeEmbeddings)
        {
            // lm_head by the method, the untied embedding by magnitude, after the decoder layers, each in its own
            // stored dtype (an F32 head beside BF16 linears was counted at half its copies). The writer holds lm_head's
            // pruned copy for the final write while the embedding is pruned, whose magnitude scores (f64) outweigh
            // most methods' arrays.
            long head = headBytes ?? dtype, vocab = config.VocabSize;
            long byMethod = Workspace(method, needsHessian, vocab, hidden, head);
            long embedding = config.TieWordEmbeddings ? 0 : (vocab * hidden * head) + Workspace("magnitude", false, vocab, hidden, head);
            pruning = Math.Max(pruning, Held(hidden) + Math.Max(byMethod, embedding));
        }

        long state = 0;
        if (method == "copal")
        {
            // The accumulated Hessians of one layer at most; a large one (CopalState.EarlySpillBytes) leaves for the
            // spill as soon as its group is pruned, its dense-upstream one as soon as it is folded, so of those only
            // one main matrix is held at a time. The dense target's pooled cross term (not symmetric, as large as a
            // whole Gram) is held beside its group's Gram while it is folded.
            long columns = 0, small = 0, large = 0;
            long perGroup = stateSides + (upstreamShift ? 1 : 0);
            foreach (LinearId id in LinearIds.All)
            {
                (_, int i) = LlamaWeights.LinearShape(config, id);
                columns += i * F64;
                long matrix = i * (long)i * F32;
                if (needsHessian && id == id.InputGroupLeader())
                {
                    if (matrix >= CopalState.DefaultEarlySpillBytes)
                    {
                        large = Math.Max(large, (upstreamShift ? 2 : 1) * matrix);
                    }
                    else
                    {
                        small += perGroup * matrix;
                    }
                }
            }
            state = (columns * config.NumLayers) + small + large;
        }
        return new CalibrationMemoryEstimate(samples, seqLen, activations, forward, statistics, pruning, state);
    }

    /// <summary>
    /// Refuses a run whose estimate exceeds <paramref name="availableBytes"/> (default: <see cref="HostMemory.LimitBytes"/>),
    /// saying how many samples would fit.
    /// </summary>
    /// <exception cref="CalibrationLimitException">The estimate does not fit.</exception>
    public static void Require(CalibrationMemoryEstimate estimate, long? availableBytes = null)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        long available = availableBytes ?? HostMemory.LimitBytes;
        if (estimate.Total <= available)
        {
            return;
        }
        if (!estimate.ForwardPasses)
        {
            throw new CalibrationLimitException(string.Create(CultureInfo.InvariantCulture,
                $"pruning needs an estimated {estimate}, more than the {ByteSize.Format(available)} of memory available: use a machine with more memory"))
            {
                OptionsCanHelp = false,
            };
        }
        // One layer's pruning and COPAL's state hold no window: where they alone pass the memory, fewer or shorter
        // windows cannot fit either, and naming --seqlen would send the user to a run refused again.
        long windowless = estimate.Pruning + estimate.State;
        if (windowless > available)
        {
            throw new CalibrationLimitException(string.Create(CultureInfo.InvariantCulture,
                $"--nsamples {estimate.Samples} × --seqlen {estimate.SeqLen} needs an estimated {estimate}, more than the {ByteSize.Format(available)} of memory available: " +
                $"the pruning of one layer{(estimate.State > 0 ? " with the COPAL state" : "")} alone needs an estimated {ByteSize.Format(windowless)}, whatever --nsamples and --seqlen: use a machine with more memory"))
            {
                OptionsCanHelp = false,
            };
        }
        long perSample = Math.Max(1, estimate.Activations / estimate.Samples);
        long fixedPart = estimate.Total - estimate.Activations;
        long fitting = fixedPart >= available ? 0 : (available - fixedPart) / perSample;
        string remedy = fitting >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"use --nsamples ≤ {Math.Min(fitting, int.MaxValue)} or a shorter --seqlen")
            : "use a shorter --seqlen or a machine with more memory";
        throw new CalibrationLimitException(string.Create(CultureInfo.InvariantCulture,
            $"--nsamples {estimate.Samples} × --seqlen {estimate.SeqLen} needs an estimated {estimate}, more than the {ByteSize.Format(available)} of memory available: {remedy}"));
    }

    // One linear [rows, cols] being pruned: the f32 weight and its encoded copy, plus the method's own arrays.
    private static long Workspace(string method, bool needsHessian, long rows, long cols, long dtype)
    {
        long weights = rows * cols;
        long common = weights * (sizeof(float) + dtype);
        long obs = (weights * (sizeof(float) + sizeof(double) + 1)) + (2 * cols * cols * sizeof(double)); // SparseGPT: f32 original, f64 W, mask; H copy (factored in place) and U (kept for the input's later linears, which need no H copy)
        return common + method switch
        {
            "sparsegpt" => obs,
            "magnitude" => weights * ((2 * sizeof(double)) + 1), // unstructured: |W| scores, the selection's copy of them, the mask
            "copal" => (weights * 2 * sizeof(float)) + (needsHessian ? obs : 0),
            _ => 0,
        };
    }
}
