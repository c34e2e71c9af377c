using System.Diagnostics;
using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Driver;

/// <summary>
/// The layer-sequential pruning driver of the SparseGPT/Wanda reference code:
/// capture the inputs of decoder layer 0 for every calibration sample; then, layer by layer, collect the statistics
/// of every linear's input through the model's tap points, prune the layer's linears, and rerun the pruned layer so
/// its outputs become the next layer's inputs. Only the current layer's pruned weights exist in memory; the dense
/// weights stay memory-mapped, and each finished layer is streamed to the output at once.
/// </summary>
internal sealed class LayerwisePruner
{
    private static readonly LinearId[][] s_sequentialGroups =
    [
        [LinearId.QProj, LinearId.KProj, LinearId.VProj],
        [LinearId.OProj],
        [LinearId.GateProj, LinearId.UpProj],
        [LinearId.DownProj],
    ];

    private readonly LlamaModel _model;
    private readonly SafetensorsCheckpoint _source;
    private readonly ILinearPruner _pruner;
    private readonly PruneOptions _options;
    // Bytes of a stored linear element (the checkpoint's, not the config's dtype), for the memory estimate and the concurrency it allows.
    private readonly int _linearBytes;
    // And of the embedding's and lm_head's, which --include-embeddings prunes: they may be stored wider than the linears.
    private readonly int _headBytes;

    /// <summary>
    /// Whether a run of <paramref name="pruner"/> under <paramref name="options"/> passes the calibration windows
    /// through the layers. Without statistics or the layer error (magnitude alone), the linears, and the embeddings
    /// with <see cref="PruneOptions.IncludeEmbeddings"/>, are pruned from their weights: no activations are held and
    /// no calibration memory is used.
    /// </summary>
    public static bool RunsForwardPasses(ILinearPruner pruner, PruneOptions options)
    {
        ArgumentNullException.ThrowIfNull(pruner);
        ArgumentNullException.ThrowIfNull(options);
        return pruner.NeedsStatistics || options.MeasureLayerError;
    }

    /// <summary>Prunes <paramref name="model"/> (dense, loaded from <paramref name="source"/>) with <paramref name="pruner"/> under <paramref name="options"/>.</summary>
    /// <exception cref="ObjectDisposedException"><paramref name="model"/> was disposed.</exception>
    public LayerwisePruner(LlamaModel model, SafetensorsCheckpoint source, ILinearPruner pruner, PruneOptions options)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        // Now, not partway into a run (magnitude alone meets the freed weights first in the backend, naming a weight).
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        _source = source ?? throw new ArgumentNullException(nameof(source));
        _pruner = pruner ?? throw new ArgumentNullException(nameof(pruner));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _linearBytes = CalibrationMemory.LinearBytes(source, model.Config);
        _headBytes = CalibrationMemory.HeadBytes(source, model.Config);
    }

    /// <summary>Prunes every decoder layer with <paramref name="calibration"/>, writing each finished layer to <paramref name="output"/>.</summary>
    public PruneReport Run(CalibrationSet calibration, PrunedModelWriter output, IProgress<PruneProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(output);
        var clock = Stopwatch.StartNew();
        IBackend backend = _model.Backend;
        int layers = _model.Config.NumLayers;
        int hidden = _model.Config.HiddenSize;
        int seqLen = calibration.SeqLen;
        if (seqLen > _model.Config.MaxPositionEmbeddings)
        {
            throw new ArgumentException($"calibration windows of {seqLen} tokens (CalibrationSet.SeqLen) exceed the model's context of {_model.Config.MaxPositionEmbeddings} tokens");
        }

        ValidatePattern();
        _pruner.CheckPattern(_options.Pattern);
        StatisticsUpstream upstream = _options.DenseUpstream ? StatisticsUpstream.Dense : _pruner.Upstream;
        if (upstream.CollectsBoth() && !_pruner.NeedsHessian)
        {
            throw new PruningOptionException("upstream", upstream.OptionName(), $"a method that uses the input Hessian; {_pruner.Name} here does not");
        }
        // Through the dense upstream the shift is zero: nothing to collect.
        bool shift = _pruner.NeedsUpstreamShift && upstream != StatisticsUpstream.Dense;
        if (_options.IncludeEmbeddings && _pruner is not MethodPruner)
        {
            throw new PruningOptionException("include-embeddings", "true", $"a baseline method (magnitude, wanda, sparsegpt); {_pruner.Name} keeps state only for the decoder layers' linears");
        }

        // Refuse a run that cannot fit before any memory grows (the CLI says so earlier, with the estimate).
        CalibrationMemoryEstimate estimate = CalibrationMemory.Estimate(_model.Config, calibration.Samples.Count, seqLen, _pruner, _options, _linearBytes, _headBytes);
        CalibrationMemory.Require(estimate);
        if (!RunsForwardPasses(_pruner, _options))
        {
            // Magnitude without the layer error: the forward passes below would feed nothing. At the 2048-token
            // window the CLI makes up for them, TinyLlama's 2:4 prune with --compact took 106 s on two cores, 49 s without.
            return RunWithoutData(calibration, estimate, output, clock, progress, cancellationToken);
        }

        // 1. Inputs of decoder layer 0 for every sample (host memory: nsamples × seqlen × hidden floats).
        progress?.Report(new PruneProgress(0, layers, "capturing layer-0 inputs"));
        using RunState state = _model.CreateLayerState(seqLen);
        using DeviceBuffer work = backend.Allocate((long)seqLen * hidden);
        using DeviceBuffer? denseWork = _options.MeasureLayerError ? backend.Allocate((long)seqLen * hidden) : null;
        var activations = new float[calibration.Samples.Count][];
        for (int s = 0; s < activations.Length; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _model.Embed(calibration.Samples[s], work);
            activations[s] = new float[(long)seqLen * hidden];
            backend.Download(work, activations[s]);
        }
        // Statistics through both upstreams (or the shift between them): the same samples through the dense upstream, kept beside them.
        float[][]? denseActivations = upstream.CollectsBoth() || shift ? [.. activations.Select(a => (float[])a.Clone())] : null;

        var layerReports = new List<LayerReport>(layers);
        long peakAnonymous = MemoryProbe.AnonymousBytes();
        long zeros = 0, total = 0;
        (long Zeros, long Total) copied = default;
        int lastSelected = _options.Layers?.Max() ?? layers - 1;
        // Until a layer is pruned, both upstreams carry the same activations (skipped layers run dense on both).
        bool pruningStarted = false;
        for (int layer = 0; layer < layers; layer++)
        {
            if (_options.Layers is not null && !_options.Layers.Contains(layer))
            {
                // Not pruned: copied as is; its dense outputs feed the next selected layer, or lm_head's statistics,
                // which are those of the last layer's outputs (--include-embeddings with --layers).
                if (layer < lastSelected || _options.IncludeEmbeddings)
                {
                    progress?.Report(new PruneProgress(layer, layers, "running the dense layer"));
                    Rerun(layer, _model.Weights.Layers[layer], state, work, null, activations, cancellationToken);
                    if (denseActivations is not null)
                    {
                        Rerun(layer, _model.Weights.Layers[layer], state, work, null, denseActivations, cancellationToken);
                    }
                }
                output.WriteLayer(layer, new Dictionary<string, TensorView>());
                var (z, t) = CopiedLinears(layer);
                copied = (copied.Zeros + z, copied.Total + t);
                continue;
            }
            var layerClock = Stopwatch.StartNew();
            DecoderLayerWeights dense = _model.Weights.Layers[layer];
            var pruned = new Dictionary<LinearId, NativeTensor>();
            var linearReports = new List<LinearReport>();
            try
            {
                IEnumerable<LinearId[]> groups = _options.TrueSequential ? s_sequentialGroups : [LinearIds.All.ToArray()];
                foreach (LinearId[] group in groups)
                {
                    // 2. Statistics of this group's inputs, from the layer as pruned so far.
                    var stats = new Dictionary<LinearId, InputStatistics>(denseActivations is null
                        ? CollectStatistics(layer, group, state, work, activations, progress, cancellationToken)
                        : CollectPairedStatistics(layer, dense, group, state, work, activations, denseActivations, upstream.CollectsBoth(), shift,
                            sameInputs: !pruningStarted && pruned.Count == 0, progress, cancellationToken));
                    // 3. Prune the group's linears from the dense weights.
                    for (int g = 0; g < group.Length; g++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        LinearId id = group[g];
                        LinearId leader = id.InputGroupLeader();
                        string name = LlamaTensorNames.Linear(layer, id);
                        progress?.Report(new PruneProgress(layer, layers, "pruning", name));
                        (NativeTensor tensor, LinearPruneResult result) = PruneLinear(layer, id, name, stats[leader], cancellationToken);
                        if (!group.Skip(g + 1).Any(later => later.InputGroupLeader() == leader))
                        {
                            // The last linear that reads these statistics: without this, down_proj was pruned with
                            // every other group's Hessians still held (0.4 GB at LLaMA-7B, twice with mixed upstreams).
                            // What the method made of them for the group (SparseGPT's U) goes with them.
                            stats.Remove(leader, out InputStatistics? done);
                            _pruner.ReleaseStatistics(done!);
                        }
                        (int rows, int cols) = LlamaWeights.LinearShape(_model.Config, id);
                        ReleaseWorkspace(rows, cols);
                        pruned[id] = tensor;
                        linearReports.Add(new LinearReport(name, result.Zeros, result.Total, result.ReconstructionError));
                        zeros += result.Zeros;
                        total += result.Total;
                    }
                    SwapIn(layer, dense, pruned);
                }

                // 4. Rerun the pruned layer: its outputs are the next layer's inputs.
                progress?.Report(new PruneProgress(layer, layers, "rerunning the pruned layer"));
                double? outputError;
                if (upstream == StatisticsUpstream.Dense)
                {
                    // The next layer sees this layer's dense outputs.
                    outputError = OnDenseLayer(layer, dense, () => Rerun(layer, dense, state, work, null, activations, cancellationToken));
                }
                else
                {
                    outputError = Rerun(layer, dense, state, work, denseWork, activations, cancellationToken);
                }
                if (denseActivations is not null)
                {
                    // The dense side moves on through the dense layer.
                    OnDenseLayer(layer, dense, () => Rerun(layer, dense, state, work, null, denseActivations, cancellationToken));
                }
                pruningStarted = true;
                output.WriteLayer(layer, pruned.ToDictionary(kv => LlamaTensorNames.Linear(layer, kv.Key), kv => kv.Value.View));
                peakAnonymous = Math.Max(peakAnonymous, MemoryProbe.AnonymousBytes());
                layerReports.Add(new LayerReport(layer, linearReports, outputError, layerClock.Elapsed.TotalSeconds));
            }
            finally
            {
                // Back to the dense layer; the pruned copy is on disk now.
                DecoderLayerWeights current = _model.Weights.ReplaceLayer(layer, dense);
                if (!ReferenceEquals(current, dense))
                {
                    current.Dispose();
                }
                foreach (NativeTensor t in pruned.Values)
                {
                    t.Dispose();
                }
                // The layer's input statistics are garbage now too; without this the next layer's were allocated
                // beside them (8.0 GB during layer 1's statistics at 7B scale, against 4.1 GB during layer 0's). A
                // plain collection still left the freed space committed for reuse (7.2 GiB during layer 1's statistics
                // against 5.3 GiB during layer 0's, with mixed upstreams): between layers it is given back.
                int widest = Math.Max(_model.Config.HiddenSize, _model.Config.IntermediateSize);
                ReleaseWorkspace(widest, widest, giveBack: true);
            }
        }

        if (_options.IncludeEmbeddings)
        {
            LayerReport head = PruneEmbeddings(state, work, activations, output, progress, cancellationToken);
            layerReports.Add(head);
            zeros += head.Linears.Sum(l => l.Zeros);
            total += head.Linears.Sum(l => l.Total);
        }

        long activationBytes = (long)activations.Length * seqLen * hidden * sizeof(float);
        return Report(calibration, layerReports, zeros, total, copied, clock, activationBytes, peakAnonymous);
    }

    /// <summary>Each selected layer's linears pruned from their weights alone, streamed out layer by layer.</summary>
    private PruneReport RunWithoutData(CalibrationSet calibration, CalibrationMemoryEstimate estimate, PrunedModelWriter output, Stopwatch clock,
        IProgress<PruneProgress>? progress, CancellationToken cancellationToken)
    {
        int layers = _model.Config.NumLayers;
        var layerReports = new List<LayerReport>(layers);
        long peakAnonymous = MemoryProbe.AnonymousBytes();
        long zeros = 0, total = 0;
        (long Zeros, long Total) copied = default;
        int concurrent = CalibrationMemory.ConcurrentLinears(estimate, _model.Config, _pruner, HostMemory.LimitBytes - peakAnonymous, Environment.ProcessorCount, _linearBytes);
        for (int layer = 0; layer < layers; layer++)
        {
            if (_options.Layers is not null && !_options.Layers.Contains(layer))
            {
                output.WriteLayer(layer, new Dictionary<string, TensorView>());
                var (z, t) = CopiedLinears(layer);
                copied = (copied.Zeros + z, copied.Total + t);
                continue;
            }
            var layerClock = Stopwatch.StartNew();
            var results = new (NativeTensor Tensor, LinearPruneResult Result)?[LinearIds.All.Count];
            try
            {
                progress?.Report(new PruneProgress(layer, layers, "pruning the layer's linears"));
                // The layer's linears at once: converting, pruning and encoding a linear is mostly one core's work.
                // Each holds its workspace meanwhile (about 0.8 GB for a 7B MLP linear), so as many run at once as
                // the cores and the memory allow.
                RunEach(LinearIds.All.Count, concurrent, i =>
                {
                    LinearId id = LinearIds.All[i];
                    (_, int cols) = LlamaWeights.LinearShape(_model.Config, id);
                    results[i] = PruneLinear(layer, id, LlamaTensorNames.Linear(layer, id), new InputStatistics(cols, collectHessian: false), cancellationToken);
                    // Its workspace is garbage now, several times the linear: collected at once, since the GC's own budget
                    // (three quarters of a container's limit) leaves no room for the memory outside its heap.
                    if (CalibrationMemory.LinearWorkspace(_model.Config, _pruner, id) >= LargeWorkspaceBytes / 4)
                    {
                        GC.Collect();
                    }
                }, cancellationToken);
                var linearReports = new List<LinearReport>();
                foreach ((NativeTensor tensor, LinearPruneResult result) in results.Select(r => r!.Value))
                {
                    linearReports.Add(new LinearReport(tensor.View.Name, result.Zeros, result.Total, result.ReconstructionError));
                    zeros += result.Zeros;
                    total += result.Total;
                }
                int widest = Math.Max(_model.Config.HiddenSize, _model.Config.IntermediateSize);
                ReleaseWorkspace(widest, widest);
                output.WriteLayer(layer, results.ToDictionary(r => r!.Value.Tensor.View.Name, r => r!.Value.Tensor.View));
                peakAnonymous = Math.Max(peakAnonymous, MemoryProbe.AnonymousBytes());
                layerReports.Add(new LayerReport(layer, linearReports, null, layerClock.Elapsed.TotalSeconds));
            }
            finally
            {
                foreach ((NativeTensor Tensor, LinearPruneResult) r in results.Where(r => r is not null).Select(r => r!.Value))
                {
                    r.Tensor.Dispose();
                }
            }
        }
        if (_options.IncludeEmbeddings)
        {
            LayerReport head = PruneHeadAndEmbedding(null, Stopwatch.StartNew(), output, progress, cancellationToken);
            layerReports.Add(head);
            zeros += head.Linears.Sum(l => l.Zeros);
            total += head.Linears.Sum(l => l.Total);
        }
        return Report(calibration, layerReports, zeros, total, copied, clock, activationBytes: 0, peakAnonymous);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for 0 … count − 1, at most <paramref name="concurrent"/> at once; the first failure
    /// is rethrown as itself, not wrapped.
    /// </summary>
    private static void RunEach(int count, int concurrent, Action<int> body, CancellationToken cancellationToken)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = concurrent }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    /// <summary>
    /// The zeros and weights of layer <paramref name="layer"/>'s linears as the input stores them: a layer --layers
    /// leaves out is copied, and its zeros are the output model's too.
    /// </summary>
    private (long Zeros, long Total) CopiedLinears(int layer)
    {
        long zeros = 0, total = 0;
        foreach (LinearId id in LinearIds.All)
        {
            TensorView view = _source[LlamaTensorNames.Linear(layer, id)];
            zeros += SparsityCheck.CountZeros(view);
            total += view.ElementCount;
        }
        return (zeros, total);
    }

    private PruneReport Report(CalibrationSet calibration, List<LayerReport> layerReports, long zeros, long total, (long Zeros, long Total) copied, Stopwatch clock,
        long activationBytes, long peakAnonymous) => new(
            _pruner.Name,
            _options.Pattern.ToString(),
            _options.Pattern.TargetSparsity,
            _options.TrueSequential,
            calibration.HasData ? new CalibrationReport(calibration.Sources, calibration.Samples.Count, calibration.SeqLen, calibration.Seed, calibration.Hash) : null,
            layerReports,
            total == 0 ? 0 : (double)zeros / total,
            zeros,
            total,
            clock.Elapsed.TotalSeconds,
            Process.GetCurrentProcess().PeakWorkingSet64,
            activationBytes,
            peakAnonymous,
            $"{_model.Backend.Info.Kind} ({_model.Backend.Info.DeviceName})",
            _model.Source)
        {
            LinearSparsity = total + copied.Total == 0 ? 0 : (double)(zeros + copied.Zeros) / (total + copied.Total),
            LinearParameters = total + copied.Total,
        };

    /// <summary>
    /// lm_head is pruned by the method from the statistics of its real input: the final RMSNorm of the last layer's
    /// outputs (the activations after every layer has run: pruned, or dense where --layers leaves it out). An untied embed_tokens is pruned by magnitude:
    /// its input is a one-hot choice of row, so there are no input statistics to weigh it with. With tied
    /// embeddings the one matrix is pruned once, as lm_head.
    /// </summary>
    private LayerReport PruneEmbeddings(RunState state, DeviceBuffer work, float[][] activations, PrunedModelWriter output,
        IProgress<PruneProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int layers = _model.Config.NumLayers;
        int hidden = _model.Config.HiddenSize;
        int seqLen = state.MaxRows;
        // lm_head's statistics are kept under the QProj key: the tap's keys are input groups, and this one is the head's.
        using (var tap = new StatisticsTap(_model.Backend, -1, new Dictionary<LinearId, int> { [LinearId.QProj] = hidden }, _pruner.NeedsHessian))
        {
            for (int s = 0; s < activations.Length; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new PruneProgress(layers - 1, layers, $"lm_head statistics {s + 1}/{activations.Length}"));
                _model.Backend.Upload(activations[s], work);
                _model.Backend.RmsNorm(work, _model.Weights.FinalNorm, state.Normed, seqLen, hidden, (float)_model.Config.RmsNormEps);
                tap.Accumulate(LinearId.QProj, state.Normed, seqLen);
                tap.FoldSample();
            }
            return PruneHeadAndEmbedding(tap.Statistics[LinearId.QProj], clock, output, progress, cancellationToken);
        }
    }

    /// <summary>
    /// lm_head by the method, on <paramref name="headStatistics"/> (its inputs' statistics; null where the method needs
    /// none), and an untied embedding by magnitude: the layer after the last, in the report.
    /// </summary>
    private LayerReport PruneHeadAndEmbedding(InputStatistics? headStatistics, Stopwatch clock, PrunedModelWriter output,
        IProgress<PruneProgress>? progress, CancellationToken cancellationToken)
    {
        int layers = _model.Config.NumLayers;
        string headName = _model.Weights.Tied ? LlamaTensorNames.Embedding : LlamaTensorNames.LmHead;
        progress?.Report(new PruneProgress(layers - 1, layers, "pruning", headName));
        var reports = new List<LinearReport> { PruneWhole(headName, _pruner, headStatistics, output, cancellationToken) };
        if (!_model.Weights.Tied)
        {
            progress?.Report(new PruneProgress(layers - 1, layers, "pruning", LlamaTensorNames.Embedding));
            reports.Add(PruneWhole(LlamaTensorNames.Embedding, new MethodPruner(new MagnitudePruner()), null, output, cancellationToken));
        }
        return new LayerReport(layers, reports, null, clock.Elapsed.TotalSeconds);
    }

    private LinearReport PruneWhole(string name, ILinearPruner pruner, InputStatistics? stats, PrunedModelWriter output, CancellationToken cancellationToken)
    {
        TensorView view = _source[name];
        int rows = checked((int)view.Shape[0]);
        int cols = checked((int)view.Shape[1]);
        var weight = new float[(long)rows * cols];
        FloatConvert.ToSingle(view, weight);
        RequireFinite(view, weight);
        if (stats is not null)
        {
            RequireFiniteInputs(pruner, name, stats);
        }
        LinearPruneResult result = PruneNamed(pruner, new LinearTarget(_model.Config.NumLayers, LinearId.QProj, name, rows, cols), weight,
            stats ?? new InputStatistics(cols, collectHessian: false), "(lm_head)", cancellationToken);
        if (stats is not null)
        {
            // lm_head is its input's only reader; the untied embedding pruned next should not sit beside its U.
            pruner.ReleaseStatistics(stats);
        }
        ReplaceWith(output, name, view, weight);
        // A tied model's stored lm_head.weight (some exports write the embedding's copy, which the model does not read)
        // becomes the pruned matrix too: left dense, a tool that reads it would get another head than the one pruned.
        if (name == LlamaTensorNames.Embedding && _model.Weights.Tied && _source.TryGet(LlamaTensorNames.LmHead, out TensorView copy))
        {
            ReplaceWith(output, LlamaTensorNames.LmHead, copy, weight);
        }
        return new LinearReport(name, result.Zeros, result.Total, result.ReconstructionError);
    }

    // weight, encoded in the dtype of the input's tensor 'name', in place of that tensor in the output.
    private static void ReplaceWith(PrunedModelWriter output, string name, TensorView stored, float[] weight) =>
        output.ReplaceOther(name, Encoded(name, stored, weight));

    // weight as a tensor named 'name' in the dtype and shape of 'stored', the input's tensor it replaces.
    private static NativeTensor Encoded(string name, TensorView stored, float[] weight)
    {
        var tensor = new NativeTensor(name, stored.DType, stored.Shape);
        try
        {
            WeightEncoding.Encode(weight, tensor);
            RequireStored(tensor.View, weight);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    // SparseGPT and COPAL's update move a pruned weight's share onto the kept ones, which can then pass what the
    // checkpoint's dtype holds (F16 ends at 65504) and be stored as Inf: a model every loader refuses, found only when
    // it is run. The run fails at the linear instead.
    private static void RequireStored(TensorView encoded, float[] weight)
    {
        long bad = NonFinite.IndexOf(encoded, 0, encoded.ElementCount);
        if (bad < 0)
        {
            return;
        }
        string at = NonFinite.Coordinates(bad, encoded.Shape);
        const string Keeping = "use a method that keeps the weights it does not prune (magnitude, wanda)";
        // A weight float itself cannot hold (the update overflowed, or made a NaN): no wider dtype would store it.
        string what = float.IsFinite(weight[bad])
            ? $"{NonFinite.Describe(weight[bad])}, past {encoded.DType}'s largest value {LargestFinite(encoded.DType)}, which the checkpoint's dtype "
                + $"cannot store; prune {WiderCopy(encoded.DType)} of the model, or {Keeping}"
            : $"{NonFinite.Describe(weight[bad])}; {Keeping}";
        throw new InvalidDataException($"tensor '{encoded.Name}': the pruning method's update makes its weight at {at} {what}");
    }

    // The copies whose range holds every finite float: BF16's is F32's but for its rounding at the top.
    private static string WiderCopy(DType dtype) => dtype == DType.F16 ? "a BF16 or F32 copy" : "an F32 copy";

    private static string LargestFinite(DType dtype) => dtype switch
    {
        DType.F16 => "65504",
        DType.BF16 => "3.3895314E+38",
        _ => float.MaxValue.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    };

    private void ValidatePattern() => ValidatePattern(_model.Config, _options.Pattern);

    /// <summary>An N:M pattern must fit every linear's input size of <paramref name="config"/>; said before any work is done.</summary>
    /// <exception cref="PruningOptionException">Some linear's input size is not a multiple of M.</exception>
    internal static void ValidatePattern(Copal.Model.Config.LlamaConfig config, SparsityPattern pattern)
    {
        if (pattern is not SparsityPattern.NM nm)
        {
            return;
        }
        foreach (LinearId id in LinearIds.All)
        {
            int cols = LlamaWeights.LinearShape(config, id).In;
            if (cols % nm.M != 0)
            {
                throw new PruningOptionException("pattern", nm.ToString(),
                    $"a pattern whose M divides every linear's input size, but {LlamaTensorNames.Linear(0, id)} has {cols} inputs (not a multiple of {nm.M})");
            }
        }
    }

    private IReadOnlyDictionary<LinearId, InputStatistics> CollectStatistics(
        int layer, LinearId[] group, RunState state, DeviceBuffer work, float[][] activations,
        IProgress<PruneProgress>? progress, CancellationToken cancellationToken)
    {
        using var tap = new StatisticsTap(_model.Backend, layer, LeaderColumns(group), _pruner.NeedsHessian);
        int seqLen = state.MaxRows;
        for (int s = 0; s < activations.Length; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new PruneProgress(layer, _model.Config.NumLayers, $"statistics {s + 1}/{activations.Length}"));
            _model.Backend.Upload(activations[s], work);
            _model.ForwardLayer(state, layer, work, seqLen, 0, tap);
            tap.FoldSample();
        }
        return tap.Statistics;
    }

    // The input size of each input group's leader in group (q for q/k/v, gate for gate/up): the statistics to collect.
    private Dictionary<LinearId, int> LeaderColumns(LinearId[] group) => group.Select(id => id.InputGroupLeader()).Distinct()
        .ToDictionary(id => id, id => LlamaWeights.LinearShape(_model.Config, id).In);

    // Runs work with layer's dense weights in place, then puts back the weights it found (pruned so far, or dense).
    private T OnDenseLayer<T>(int layer, DecoderLayerWeights dense, Func<T> work)
    {
        DecoderLayerWeights current = _model.Weights.ReplaceLayer(layer, dense);
        try
        {
            return work();
        }
        finally
        {
            _model.Weights.ReplaceLayer(layer, current);
        }
    }

    // Each sample through the dense layer on its dense-upstream input, then through the layer as pruned so far on its
    // pruned-upstream input (the layer is still dense unless --true-sequential swapped some linears in). With
    // sameInputs (no layer pruned yet, no linear of this one swapped in) the two passes would be one pass twice.
    private IReadOnlyDictionary<LinearId, InputStatistics> CollectPairedStatistics(
        int layer, DecoderLayerWeights dense, LinearId[] group, RunState state, DeviceBuffer work, float[][] activations, float[][] denseActivations,
        bool denseHessian, bool shift, bool sameInputs, IProgress<PruneProgress>? progress, CancellationToken cancellationToken)
    {
        using var tap = new PairedStatisticsTap(_model.Backend, layer, LeaderColumns(group), denseHessian, shift, sameInputs);
        int seqLen = state.MaxRows;
        for (int s = 0; s < activations.Length; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new PruneProgress(layer, _model.Config.NumLayers,
                $"statistics {s + 1}/{activations.Length} ({(sameInputs ? "dense and pruned upstream alike" : "dense and pruned upstream")})"));
            if (!sameInputs)
            {
                float[] denseInput = denseActivations[s];
                tap.DensePass = true;
                OnDenseLayer(layer, dense, () =>
                {
                    _model.Backend.Upload(denseInput, work);
                    _model.ForwardLayer(state, layer, work, seqLen, 0, tap);
                    return 0;
                });
                tap.DensePass = false;
            }
            _model.Backend.Upload(activations[s], work);
            _model.ForwardLayer(state, layer, work, seqLen, 0, tap);
            tap.FoldSample();
        }
        return tap.Statistics();
    }

    private (NativeTensor, LinearPruneResult) PruneLinear(int layer, LinearId id, string name, InputStatistics stats, CancellationToken cancellationToken)
    {
        TensorView view = _source[name];
        int rows = checked((int)view.Shape[0]);
        int cols = checked((int)view.Shape[1]);
        var weight = new float[(long)rows * cols];
        FloatConvert.ToSingle(view, weight);
        RequireFinite(view, weight);
        RequireFiniteInputs(_pruner, name, stats);
        LinearPruneResult result = PruneNamed(_pruner, new LinearTarget(layer, id, name, rows, cols), weight, stats,
            FormattableString.Invariant($"in layer {layer}"), cancellationToken);
        return (Encoded(name, view, weight), result);
    }

    // The pruner's Prune; a Hessian it cannot factor names the tensor whose calibration inputs gave it (the factorization
    // knows only the matrix), so the one line says which linear as well as why and what to change.
    private LinearPruneResult PruneNamed(ILinearPruner pruner, LinearTarget target, Span<float> weight, InputStatistics stats, string where,
        CancellationToken cancellationToken)
    {
        try
        {
            return pruner.Prune(target, weight, stats, _options.Pattern, cancellationToken);
        }
        catch (HessianFactorizationException e)
        {
            throw new HessianFactorizationException($"tensor '{target.Name}' {where}: {e.Message}", e);
        }
    }

    /// <summary>Working copies above this size are collected as soon as their linear is pruned.</summary>
    internal const long LargeWorkspaceBytes = 64L << 20;

    /// <summary>
    /// A method's working copies of a linear (the f32 and f64 weights, the Hessian and its factor) are large-object
    /// garbage once the linear is pruned, and the GC collects large objects only after an allocation budget that
    /// grows with the machine's memory. At LLaMA-7B scale the copies of a layer's seven linears piled up: 13.3 GB
    /// anonymous against an estimate of 6.4 GiB. Collecting after each large linear keeps memory to one linear's work.
    /// </summary>
    private static void ReleaseWorkspace(int rows, int cols, bool giveBack = false)
    {
        if (Math.Max((long)rows * cols, (long)cols * cols) * sizeof(double) >= LargeWorkspaceBytes)
        {
            if (giveBack)
            {
                // Compacts and decommits the free space instead of keeping it for the next allocations.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            else
            {
                GC.Collect();
            }
        }
    }

    // Scores of NaN or Inf are meaningless. The methods see only a span, so the tensor is named here.
    private static void RequireFinite(TensorView view, float[] weight)
    {
        int bad = NonFinite.IndexOf(weight);
        if (bad >= 0)
        {
            throw new InvalidDataException(
                $"tensor '{view.Name}' holds {NonFinite.Describe(weight[bad])} at {NonFinite.Coordinates(bad, view.Shape)}; pruning needs finite weights");
        }
    }

    // A model loaded with --allow-nonfinite can have finite linears and NaN or Inf activations (a norm weight, an
    // overflow): Wanda's scores would then be NaN, and its masks chosen from them silently miss the target; SparseGPT's
    // Hessian would fail to factor with a message that names no tensor. A non-finite input makes its mean square
    // non-finite, so the column mean squares are enough to tell.
    private static void RequireFiniteInputs(ILinearPruner pruner, string name, InputStatistics stats)
    {
        if (!pruner.NeedsStatistics || stats.Sequences == 0)
        {
            return;
        }
        ReadOnlySpan<double> meanSquares = stats.ColumnMeanSquares;
        for (int j = 0; j < meanSquares.Length; j++)
        {
            // A sum of squares is NaN only where an activation was. Inf is what the backend's f32 sums become past
            // 3.4e38, as finite activations of 1.8e19 or more make them (an infinite activation too, which no sum tells apart).
            if (double.IsNaN(meanSquares[j]))
            {
                throw new InvalidDataException(FormattableString.Invariant(
                    $"the calibration inputs of tensor '{name}' hold NaN in column {j}: the activations before it are not finite (a non-finite weight outside the linears?); pruning needs finite activations"));
            }
            if (double.IsInfinity(meanSquares[j]))
            {
                throw new InvalidDataException(FormattableString.Invariant(
                    $"the calibration inputs of tensor '{name}' sum to Inf in column {j} in single precision: their squares, summed in f32, passed its largest value (3.4e38), as activations of magnitude 1.8e19 or more do (or infinite ones); pruning needs activations whose squares fit in f32"));
            }
        }
    }

    private void SwapIn(int layer, DecoderLayerWeights dense, Dictionary<LinearId, NativeTensor> pruned)
    {
        var replacements = new Dictionary<LinearId, DeviceWeight>();
        try
        {
            foreach ((LinearId id, NativeTensor tensor) in pruned)
            {
                replacements.Add(id, _model.Backend.LoadWeight(tensor.View));
            }
        }
        catch
        {
            // A device out of memory for one of them: the ones loaded are not in the model, so nothing else frees them.
            foreach (DeviceWeight loaded in replacements.Values)
            {
                loaded.Dispose();
            }
            throw;
        }
        DecoderLayerWeights previous = _model.Weights.ReplaceLayer(layer, dense.WithLinears(replacements));
        if (!ReferenceEquals(previous, dense))
        {
            previous.Dispose();
        }
    }

    private double? Rerun(int layer, DecoderLayerWeights dense, RunState state, DeviceBuffer work, DeviceBuffer? denseWork, float[][] activations, CancellationToken cancellationToken)
    {
        IBackend backend = _model.Backend;
        int seqLen = state.MaxRows;
        long n = (long)seqLen * _model.Config.HiddenSize;
        double errorSum = 0, normSum = 0;
        float[]? denseOut = denseWork is null ? null : new float[n];
        for (int s = 0; s < activations.Length; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (denseWork is not null)
            {
                // The dense layer on the same inputs, for the layer's output error.
                // The pruned layer goes back in even if the pass fails, so the caller's cleanup finds (and frees) it.
                backend.Upload(activations[s], denseWork);
                OnDenseLayer(layer, dense, () =>
                {
                    _model.ForwardLayer(state, layer, denseWork, seqLen, 0);
                    return 0;
                });
                backend.Download(denseWork, denseOut);
            }
            backend.Upload(activations[s], work);
            _model.ForwardLayer(state, layer, work, seqLen, 0);
            backend.Download(work, activations[s]);
            if (denseOut is not null)
            {
                float[] a = activations[s];
                for (long i = 0; i < n; i++)
                {
                    double d = a[i] - denseOut[i];
                    errorSum += d * d;
                    normSum += (double)denseOut[i] * denseOut[i];
                }
            }
        }
        return denseOut is null ? null : normSum == 0 ? 0 : errorSum / normSum;
    }
}
