using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors.Backends;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Model.Inference;

/// <summary>
/// A LLaMA-family causal language model on one backend: config, weights, RoPE tables and the forward pass.
/// The forward pass reads like HF's <c>LlamaForCausalLM</c>: embed → for each layer (RMSNorm → attention with
/// RoPE and GQA → residual → RMSNorm → SiLU-gated MLP → residual) → final RMSNorm → lm_head.
/// <para>
/// Thread safety: any thread may call a model, and several may share one (generators, an
/// <see cref="Serving.InferenceEngine"/>): forward passes run one at a time under the model's lock, each on the caller's
/// own <see cref="RunState"/>. A RunState serves one call at a time: a call on a state while another is in flight on
/// it (from a tap inside the pass, or another thread) throws <see cref="InvalidOperationException"/>.
/// </para>
/// </summary>
public sealed partial class LlamaModel : IDisposable
{
    private readonly IDisposable? _storage;
    private bool _disposed;

    // Forward passes run one at a time: growing the RoPE tables replaces buffers a pass in flight on another thread
    // would read (each caller has its own RunState, but the tables are the model's). Re-entered by nested calls.
    private readonly Lock _run = new();

    /// <summary>Whether this thread holds the run lock now (for tests: a tap inside a pass sees true).</summary>
    internal bool RunLockHeldHere => _run.IsHeldByCurrentThread;

    /// <summary>
    /// A model over weights already on <paramref name="backend"/>; <see cref="Load(string, IBackend, IProgress{LoadProgress}?, CancellationToken)"/>
    /// builds one from a folder. The model owns <paramref name="weights"/> and <paramref name="storage"/> and frees them
    /// in <see cref="Dispose"/>; the backend stays the caller's, and must outlive the model.
    /// </summary>
    /// <param name="backend">The backend the weights were loaded on, and the forward pass runs on.</param>
    /// <param name="config">The model's shapes and hyperparameters.</param>
    /// <param name="weights">Every weight, on <paramref name="backend"/>.</param>
    /// <param name="storage">What backs the weights' memory (a mapped checkpoint), disposed with the model; null for none.</param>
    /// <param name="source">Where the model came from, for messages (<see cref="Source"/>); null for "(in memory)".</param>
    public LlamaModel(IBackend backend, LlamaConfig config, LlamaWeights weights, IDisposable? storage = null, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        Backend = backend;
        Config = config;
        Weights = weights;
        Source = source ?? "(in memory)";
        _storage = storage;
        // The RoPE tables are computed for the positions runs reach (EnsureRope), not for the whole context.
        _ropeScaling = RopeScalingOf(config.RopeScaling);
    }

    /// <summary>The backend the weights live on and the forward pass runs on; the caller's, not disposed with the model.</summary>
    public IBackend Backend { get; }

    /// <summary>The model's shapes and hyperparameters, from config.json.</summary>
    public LlamaConfig Config { get; }

    /// <summary>Every weight on <see cref="Backend"/>; owned by the model and freed by <see cref="Dispose"/>.</summary>
    public LlamaWeights Weights { get; }

    /// <summary>Where the model came from (its folder), for messages.</summary>
    public string Source { get; }

    /// <summary>
    /// Whether <see cref="Dispose"/> has freed the weights: what is built over a model (an engine, a generator, a
    /// pruning driver) checks it where it is given one, and refuses a disposed model at once, as the model's own calls do.
    /// </summary>
    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>
    /// Whether the loaded checkpoint is mapped or was read into memory (<see cref="Load(string, IBackend, SparseLoadMode, IProgress{LoadProgress}?, bool, WeightResidence, CancellationToken)"/>);
    /// <see cref="WeightResidence.Mapped"/> also for a model built in memory.
    /// </summary>
    public WeightResidence WeightResidence => (_storage as Storage)?.Residence ?? WeightResidence.Mapped;

    /// <summary>
    /// Activation buffers for up to <paramref name="maxRows"/> tokens per call and a KV cache for at most
    /// <paramref name="maxPositions"/> positions (left out: the model's context). The cache (and the RoPE tables) are
    /// allocated at once for <paramref name="reservePositions"/> positions and grow geometrically, up to the limit, as
    /// forward calls reach further. Left out, the reserve is maxPositions when that is given (the run's known work)
    /// and maxRows when not; a limit that is only a bound ("up to 100k new tokens, or until end of text") should come
    /// with a small reserve, so memory follows the tokens the run reaches.
    /// </summary>
    public RunState CreateState(int maxRows, int? maxPositions = null, bool allRowLogits = false, int? reservePositions = null)
    {
        ThrowIfDisposed();
        if (maxRows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRows), FormattableString.Invariant($"a state needs maxRows ≥ 1, got {maxRows}"));
        }
        if (maxPositions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPositions), FormattableString.Invariant($"a state needs maxPositions ≥ 1 (or null for the model's context), got {maxPositions}"));
        }
        int positions = maxPositions ?? Config.MaxPositionEmbeddings;
        if (positions > Config.MaxPositionEmbeddings)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPositions), positions,
                $"the model's context is {Config.MaxPositionEmbeddings} positions (max_position_embeddings)");
        }
        int rows = Math.Min(maxRows, positions);
        if (reservePositions is int r && (r < 1 || r > positions))
        {
            throw new ArgumentOutOfRangeException(nameof(reservePositions), FormattableString.Invariant($"reservePositions must be between 1 and the state's limit of {positions} positions, got {r}"));
        }
        int reserved = Math.Max(reservePositions ?? maxPositions ?? rows, rows);
        EnsureRope(reserved);
        return new RunState(Backend, Config, rows, positions, allRowLogits, reserved);
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions startPos.. through the model, filling the KV cache. With
    /// <see cref="LogitsMode.Last"/> the last token's logits land in row 0 of <c>state.Logits</c>; with
    /// <see cref="LogitsMode.All"/> every token's (then tokens must fit in one call of MaxRows).
    /// Longer inputs are processed in chunks of MaxRows, which the KV cache makes exact.
    /// <paramref name="cancellationToken"/> is checked before each chunk and between a chunk's layers, so a cancelled
    /// call stops within one layer and throws <see cref="OperationCanceledException"/>; the KV cache then holds only
    /// the chunks that ran whole (<see cref="RunState.Positions"/>), and no logits were written.
    /// </summary>
    public void Forward(RunState state, ReadOnlySpan<int> tokens, int startPos, LogitsMode mode, IForwardTap? tap = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        using RunState.CallScope call = state.EnterCall();
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("no tokens to run", nameof(tokens));
        }
        if (startPos < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(startPos), FormattableString.Invariant($"startPos must be ≥ 0, got {startPos}"));
        }
        if ((long)startPos + tokens.Length > state.MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens),
                $"positions {startPos}..{startPos + tokens.Length - 1} exceed the context of {state.MaxPositions} positions");
        }
        CheckStartsWithinRun(state, startPos, nameof(startPos), batchRow: null);
        if (mode == LogitsMode.All && (tokens.Length > state.MaxRows || !state.AllRowLogits))
        {
            throw new ArgumentException($"all-row logits for {tokens.Length} tokens need a state with all-row logits and MaxRows ≥ {tokens.Length} (has {state.MaxRows}, {(state.AllRowLogits ? "all-row logits" : "the last row's logits")})");
        }
        ValidateTokens(tokens);
        int done = 0;
        while (done < tokens.Length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The lock a chunk at a time: a long prefill on one thread lets another thread's decode steps in between.
            // The lock first, then the check: a Dispose waiting behind a chunk in flight runs before this one.
            using Lock.Scope chunk = _run.EnterScope();
            ThrowIfDisposed();
            if (done == 0)
            {
                // Grow the cache and the tables once for the whole call, not chunk by chunk (a decode step takes
                // the lock once).
                state.EnsurePositions(startPos + tokens.Length);
                EnsureRope(startPos + tokens.Length);
                // The activations hold the call's chunk, not MaxRows: a 3-token prompt in a serve slot takes 3 rows.
                state.EnsureRows(Math.Min(state.MaxRows, tokens.Length));
            }
            int rows = Math.Min(state.MaxRows, tokens.Length - done);
            bool last = done + rows == tokens.Length;
            // From here the positions at and after the chunk's hold what this call writes, whole only once it ends.
            state.Positions = startPos + done;
            ForwardChunk(state, tokens.Slice(done, rows), startPos + done, last ? mode : LogitsMode.None, tap, cancellationToken);
            done += rows;
            state.Positions = startPos + done;
        }
    }

    /// <summary>Copies the first <paramref name="rows"/> rows of logits to the host. // [rows, vocab]</summary>
    public float[] ReadLogits(RunState state, int rows = 1)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        if (rows < 1 || rows > state.LogitRows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), FormattableString.Invariant($"rows {rows} outside the state's logit rows: expected 1 to {state.LogitRows}"));
        }
        var logits = new float[(long)rows * Config.VocabSize];
        ReadLogits(state, logits);
        return logits;
    }

    /// <summary>
    /// Copies the first destination.Length / vocab rows of logits into <paramref name="destination"/>: a decode loop
    /// reuses one buffer instead of putting a vocab-sized array (128 KB at 32K tokens, a large-object-heap
    /// allocation) on the heap for every token.
    /// </summary>
    public void ReadLogits(RunState state, Span<float> destination)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        using RunState.CallScope call = state.EnterCall();
        int vocab = Config.VocabSize;
        if (destination.Length == 0 || destination.Length % vocab != 0)
        {
            throw new ArgumentException($"a logits destination holds whole rows of {vocab}, got {destination.Length} elements", nameof(destination));
        }
        if (destination.Length / vocab > state.LogitRows)
        {
            throw new ArgumentException($"a logits destination of {destination.Length / vocab} rows of {vocab} exceeds the state's {state.LogitRows} logit rows", nameof(destination));
        }
        Backend.Download(state.Logits, destination);
    }

    /// <summary>The embeddings of <paramref name="tokens"/>, times Granite's embedding multiplier where it has one.</summary>
    private void Embedding(ReadOnlySpan<int> tokens, DeviceBuffer hidden)
    {
        Backend.Embedding(Weights.Embedding, tokens, hidden);
        ScaleBy(hidden, Config.EmbeddingMultiplier, (long)tokens.Length * Config.HiddenSize);
    }

    /// <summary>x · factor in place; nothing for a factor of 1 (every model but Granite).</summary>
    private void ScaleBy(DeviceBuffer x, double factor, long count)
    {
        if (factor != 1.0)
        {
            Backend.Scale(x, (float)factor, count);
        }
    }

    /// <summary>
    /// Decoder layer <paramref name="layer"/> as <see cref="ForwardLayer"/> runs it, with the seams between layers
    /// fused when a whole stack runs: <paramref name="inputNormed"/> says state.Normed already holds this layer's
    /// normed input, and a non-null <paramref name="nextNorm"/> (the next layer's input norm) makes the layer's last
    /// residual add also write that normed input (<see cref="IBackend.AddRmsNorm"/>): one launch a layer fewer on a GPU.
    /// </summary>
    private void Layer(RunState state, int layer, DeviceBuffer hidden, int rows, int startPos, IForwardTap? tap, bool inputNormed, DeviceBuffer? nextNorm)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        ArgumentNullException.ThrowIfNull(hidden);
        if ((uint)layer >= (uint)Config.NumLayers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), FormattableString.Invariant($"layer {layer} outside the model's layers: expected 0 to {Config.NumLayers - 1}"));
        }
        if (rows < 1 || rows > state.MaxRows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), FormattableString.Invariant($"rows {rows} outside the state's rows: expected 1 to {state.MaxRows}"));
        }
        if (startPos < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(startPos), FormattableString.Invariant($"startPos must be ≥ 0, got {startPos}"));
        }
        if (!state.Reaches(layer, startPos))
        {
            throw WindowRewind(state, layer, startPos, nameof(startPos), "startPos");
        }
        // A no-op within Forward, which grew the rows for its chunks; a caller's own layer pass (the pruning driver's) may grow them.
        state.EnsureRows(rows);
        state.EnsurePositions(startPos + rows);
        state.SlideWindow(layer, startPos, rows); // a sliding-window layer's cache makes room for the rows
        EnsureRope(startPos + rows);
        DecoderLayerWeights w = Weights.Layers[layer];
        IBackend b = Backend;
        LlamaConfig c = Config;

        tap?.OnLayerInput(layer, hidden, rows);

        // Attention block.
        Projections(AttentionInput(w, hidden, state.Normed, rows, inputNormed), w, state.Q, state.K, state.V, rows, layer, tap);
        var shape = new AttentionShape(rows, startPos, c.NumHeads, c.NumKvHeads, c.HeadDim, c.AttentionScale, c.AttentionWindow(layer), state.CacheStart(layer), c.RotaryDim);
        (DeviceBuffer cos, DeviceBuffer sin) = RopeOf(layer);
        b.RopeAndStore(state.Q, state.K, state.V, cos, sin, state.KCache[layer], state.VCache[layer], shape);
        b.Attention(state.Q, state.KCache[layer], state.VCache[layer], state.AttentionOut, shape);
        OutputAndMlp(w, layer, hidden, state.AttentionOut, state.Normed, state.Gate, state.Up, state.Projected, rows, tap, nextNorm);

        tap?.OnLayerOutput(layer, hidden, rows);
    }

    /// <summary>
    /// The rest of a decoder layer after attention, shared by <see cref="ForwardLayer"/> and the batched step:
    /// o_proj and its residual, then the MLP block down(silu(gate(x)) · up(x)) and its residual, on [rows, hidden].
    /// With <paramref name="nextNorm"/> the last residual add also writes the next layer's normed input to
    /// <paramref name="normed"/>.
    /// </summary>
    private void OutputAndMlp(DecoderLayerWeights w, int layer, DeviceBuffer hidden, DeviceBuffer attentionOut, DeviceBuffer normed,
        DeviceBuffer gate, DeviceBuffer up, DeviceBuffer projected, int rows, IForwardTap? tap, DeviceBuffer? nextNorm)
    {
        IBackend b = Backend;
        LlamaConfig c = Config;
        long hiddenCount = (long)rows * c.HiddenSize;
        float eps = (float)c.RmsNormEps;
        Linear(attentionOut, w, LinearId.OProj, projected, rows, layer, tap);
        ScaleBy(projected, c.ResidualMultiplier, hiddenCount);
        DeviceBuffer mlpInput = normed;
        if (c.PostBranchNorms)
        {
            // OLMo 2: the attention output normed, then added; the MLP reads the residual stream itself.
            b.RmsNorm(projected, w.PostAttentionNorm, projected, rows, c.HiddenSize, eps);
            b.Add(hidden, projected, hidden, hiddenCount);
            mlpInput = hidden;
        }
        else if (c.SandwichNorms)
        {
            // Gemma 3: the attention output normed, added, and the sum normed again as the MLP's input.
            b.RmsNorm(projected, w.PostAttentionNorm, projected, rows, c.HiddenSize, eps);
            b.AddRmsNorm(hidden, projected, w.PreFeedforwardNorm!, normed, rows, c.HiddenSize, eps);
        }
        else
        {
            b.AddRmsNorm(hidden, projected, w.PostAttentionNorm, normed, rows, c.HiddenSize, eps);
        }
        if (c.GeluGate)
        {
            // Gemma's GeGLU: no fused gate op for it, so the two projections and the gate run apart.
            Linear(mlpInput, w, LinearId.GateProj, gate, rows, layer, tap);
            Linear(mlpInput, w, LinearId.UpProj, up, rows, layer, tap);
            b.GeluTanhMul(gate, up, gate, (long)rows * c.IntermediateSize);
        }
        else if (w.Biases[(int)LinearId.GateProj] is null && w.Biases[(int)LinearId.UpProj] is null)
        {
            tap?.OnLinearInput(layer, LinearId.GateProj, mlpInput, rows);
            tap?.OnLinearInput(layer, LinearId.UpProj, mlpInput, rows);
            b.MatMulSiluGate(mlpInput, w[LinearId.GateProj], w[LinearId.UpProj], gate, up, rows);
        }
        else
        {
            Linear(mlpInput, w, LinearId.GateProj, gate, rows, layer, tap);
            Linear(mlpInput, w, LinearId.UpProj, up, rows, layer, tap);
            b.SiluMul(gate, up, gate, (long)rows * c.IntermediateSize);
        }
        Linear(gate, w, LinearId.DownProj, projected, rows, layer, tap);
        ScaleBy(projected, c.ResidualMultiplier, hiddenCount);
        if (c.PostBranchNorms || c.SandwichNorms)
        {
            b.RmsNorm(projected, w.PostFeedforwardNorm!, projected, rows, c.HiddenSize, eps);
        }
        if (nextNorm is null)
        {
            b.Add(hidden, projected, hidden, hiddenCount);
        }
        else
        {
            b.AddRmsNorm(hidden, projected, nextNorm, normed, rows, c.HiddenSize, eps);
        }
    }

    /// <summary>
    /// What the q/k/v projections read: <paramref name="hidden"/> normed into <paramref name="normed"/> (unless
    /// <paramref name="normedAlready"/>: the previous layer's last residual add wrote it), or on OLMo 2, whose branches
    /// have no input norm, <paramref name="hidden"/> itself.
    /// </summary>
    private DeviceBuffer AttentionInput(DecoderLayerWeights w, DeviceBuffer hidden, DeviceBuffer normed, int rows, bool normedAlready)
    {
        if (Config.PostBranchNorms)
        {
            return hidden;
        }
        if (!normedAlready)
        {
            Backend.RmsNorm(hidden, w.InputNorm!, normed, rows, Config.HiddenSize, (float)Config.RmsNormEps);
        }
        return normed;
    }

    /// <summary>
    /// The next layer's input norm, for the last residual add of <paramref name="layer"/> to write its normed input
    /// too; null after the last layer and on OLMo 2, whose layers read the residual stream unnormed.
    /// </summary>
    private DeviceBuffer? NextInputNorm(int layer) =>
        Config.PostBranchNorms || layer + 1 >= Config.NumLayers ? null : Weights.Layers[layer + 1].InputNorm;

    /// <summary>
    /// A pass may start at any position the state's cache holds or right after them (<see cref="RunState.Positions"/>),
    /// not past them: attention would take the positions between for keys and values no pass wrote.
    /// </summary>
    private void CheckStartsWithinRun(RunState state, int startPos, string parameter, int? batchRow)
    {
        if (startPos > state.Positions)
        {
            throw new ArgumentOutOfRangeException(parameter, FormattableString.Invariant(
                $"{What(batchRow)} {startPos} is past the {state.Positions} positions this state's cache holds: positions {state.Positions}..{startPos - 1} were never run, so run them first, or start at {state.Positions} or before"));
        }
        if (state.LayerMissingKeysFor(startPos) is int layer and >= 0)
        {
            throw WindowRewind(state, layer, startPos, parameter, What(batchRow));
        }

        // Formatted only on failure: a batch step checks every row, every step.
        static string What(int? batchRow) => batchRow is int row ? FormattableString.Invariant($"batch row {row}'s position") : "startPos";
    }

    /// <summary>A pass from <paramref name="startPos"/> would read keys <paramref name="layer"/>'s sliding-window cache dropped.</summary>
    private ArgumentOutOfRangeException WindowRewind(RunState state, int layer, int startPos, string parameter, string what)
    {
        int window = Config.AttentionWindow(layer);
        return new ArgumentOutOfRangeException(parameter, FormattableString.Invariant(
            $"{what} {startPos} rewinds further than layer {layer}'s sliding-window cache reaches: its window of {window} needs positions {startPos - window + 1}.., and the cache holds them from {state.CacheStart(layer)} on; start at 0, or at {state.CacheStart(layer) + window - 1} or later"));
    }

    private void ForwardChunk(RunState state, ReadOnlySpan<int> tokens, int startPos, LogitsMode mode, IForwardTap? tap, CancellationToken cancellationToken)
    {
        int rows = tokens.Length;
        Embedding(tokens, state.Hidden);
        int layers = Config.NumLayers;
        for (int layer = 0; layer < layers; layer++)
        {
            // A layer at a time: one chunk is a whole perplexity window (up to 2,048 rows), minutes on the ilgpu-cpu
            // device or a large model on the CPU, for which Ctrl-C waited. The chunk's positions are not counted as
            // held (RunState.Positions) until it ends, so stopping between its layers leaves the state as before it.
            cancellationToken.ThrowIfCancellationRequested();
            Layer(state, layer, state.Hidden, rows, startPos, tap, inputNormed: layer > 0, nextNorm: NextInputNorm(layer));
        }
        switch (mode)
        {
            case LogitsMode.All:
                HeadOfRows(state, state.Hidden, rows);
                break;
            case LogitsMode.Last when rows == 1:
                // Decode: the one row is the last; no copy (a launch a token on a GPU).
                HeadOfRows(state, state.Hidden, 1);
                break;
            case LogitsMode.Last:
                // Only the last row is needed: move it to row 0 of the scratch buffer, then norm and project one row.
                Backend.Copy(state.Hidden, (long)(rows - 1) * Config.HiddenSize, state.Projected, 0, Config.HiddenSize);
                HeadOfRows(state, state.Projected, 1);
                break;
        }
    }

    /// <summary>
    /// q, k and v of one input: one fused op (<see cref="IBackend.MatMulTriple"/>) unless a projection has a bias;
    /// then, on Qwen3, each query and key head RMS-normalized in place.
    /// </summary>
    private void Projections(DeviceBuffer x, DecoderLayerWeights w, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int rows, int layer, IForwardTap? tap)
    {
        if (w.Biases[(int)LinearId.QProj] is not null || w.Biases[(int)LinearId.KProj] is not null || w.Biases[(int)LinearId.VProj] is not null)
        {
            Linear(x, w, LinearId.QProj, q, rows, layer, tap);
            Linear(x, w, LinearId.KProj, k, rows, layer, tap);
            Linear(x, w, LinearId.VProj, v, rows, layer, tap);
        }
        else
        {
            tap?.OnLinearInput(layer, LinearId.QProj, x, rows);
            tap?.OnLinearInput(layer, LinearId.KProj, x, rows);
            tap?.OnLinearInput(layer, LinearId.VProj, x, rows);
            Backend.MatMulTriple(x, w[LinearId.QProj], q, w[LinearId.KProj], k, w[LinearId.VProj], v, rows);
        }
        if (w.QueryKeyNorms is var (queryNorm, keyNorm))
        {
            LlamaConfig c = Config;
            if (c.QueryKeyNormAcrossHeads)
            {
                // OLMo 2: each row of q and of k RMS-normalized over all its heads at once, in place, before RoPE.
                Backend.RmsNorm(q, queryNorm, q, rows, c.QDim, (float)c.RmsNormEps);
                Backend.RmsNorm(k, keyNorm, k, rows, c.KvDim, (float)c.RmsNormEps);
            }
            else
            {
                // Qwen3: every head of q and of k RMS-normalized over its head_dim, in place, before RoPE.
                Backend.RmsNorm(q, queryNorm, q, rows * c.NumHeads, c.HeadDim, (float)c.RmsNormEps);
                Backend.RmsNorm(k, keyNorm, k, rows * c.NumKvHeads, c.HeadDim, (float)c.RmsNormEps);
            }
        }
    }

    private void Linear(DeviceBuffer x, DecoderLayerWeights w, LinearId id, DeviceBuffer y, int rows, int layer, IForwardTap? tap)
    {
        tap?.OnLinearInput(layer, id, x, rows);
        Backend.MatMul(x, w[id], y, rows);
        DeviceBuffer? bias = w.Biases[(int)id];
        if (bias is not null)
        {
            Backend.AddBias(y, bias, rows, w[id].Rows);
        }
    }

    private void ValidateTokens(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)Config.VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id {t} is outside the vocabulary [0, {Config.VocabSize})");
            }
        }
    }

    /// <summary>
    /// Every entry point that reads the weights or the tables checks this first: after Dispose they are freed (or
    /// unmapped), and reading them would be an access violation, which no caller can catch.
    /// </summary>
    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Frees the weights, the tables and the checkpoint; the model's methods then throw <see cref="ObjectDisposedException"/>. Disposing again does nothing.</summary>
    public void Dispose()
    {
        // After a pass in flight on another thread, not under it.
        using Lock.Scope run = _run.EnterScope();
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _ropeCos?.Dispose();
        _ropeSin?.Dispose();
        _localRopeCos?.Dispose();
        _localRopeSin?.Dispose();
        Weights.Dispose();
        _storage?.Dispose();
    }
}
