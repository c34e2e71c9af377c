using Copal.Model.Config;
using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// Every activation buffer, for the rows a forward call uses (<see cref="Rows"/>, grown geometrically up to
/// <see cref="MaxRows"/> tokens per call, as <see cref="EnsureRows"/> says), and the KV cache for at most
/// <see cref="MaxPositions"/> positions. A layer's cache holds what the run reserved, grown
/// geometrically (up to MaxPositions) when a forward call reaches further, so its memory follows the positions used,
/// not the model's context. A sliding-window layer's cache stops growing at 2·window + MaxRows positions: when a call
/// would pass its end, the last window − 1 positions move to its start and the ones no window reaches any more are
/// dropped (<see cref="CacheStart"/>).
/// </summary>
public sealed class RunState : IDisposable
{
    // The activations and logits for Rows rows; null once given back (ReleaseRows) or after a refused growth.
    private ActivationRows? _rowBuffers;
    private readonly IBackend _backend;
    private readonly int _kvDim;
    private readonly int _cacheLayers; // distinct KV cache buffers: every layer's, or one shared by all
    private readonly int[] _windows; // each cache layer's sliding window, 0 for none
    private readonly int[] _capacity; // positions each cache layer is allocated for
    private readonly int[] _cacheStart; // the position each cache layer's row 0 holds
    private readonly DeviceBuffer[] _kCache = null!; // what KCache and VCache give out until the state is disposed
    private readonly DeviceBuffer[] _vCache = null!;
    private readonly LlamaConfig _config; // the config the buffers were sized for
    private bool _disposed;

    /// <param name="backend">Where the buffers live.</param>
    /// <param name="config">The model's shapes.</param>
    /// <param name="maxRows">Tokens per forward call at most.</param>
    /// <param name="reservedRows">
    /// Rows the activation buffers (and every row's logits) are allocated for at once (default: <paramref name="maxRows"/>);
    /// a call that runs more grows them (<see cref="EnsureRows"/>). A served request's slot reserves one row and grows
    /// to its prompt's chunks: a 3-token prompt held 128 rows, 24.75 MiB of activations at LLaMA-7B and 74 MiB more of a
    /// 152k vocabulary's logits when it scored its prompt.
    /// </param>
    /// <param name="maxPositions">Positions the state may hold at most (its context).</param>
    /// <param name="allRowLogits">Keep every row's logits (else only the last row's).</param>
    /// <param name="reservedPositions">Positions the KV cache is allocated for at once (default: <paramref name="maxPositions"/>); it grows from there on demand.</param>
    /// <param name="oneLayerCache">
    /// One layer's KV cache, shared by every layer: for callers that run one layer at a time over a whole window from
    /// position 0 (the pruning driver), which never read a layer's cache after running another layer. At LLaMA-7B
    /// with 512 positions this saves 0.5 GB.
    /// </param>
    public RunState(IBackend backend, LlamaConfig config, int maxRows, int maxPositions, bool allRowLogits, int? reservedPositions = null, bool oneLayerCache = false,
        int? reservedRows = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPositions, 1);
        int reserved = reservedPositions ?? maxPositions;
        ArgumentOutOfRangeException.ThrowIfLessThan(reserved, 1, nameof(reservedPositions));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(reserved, maxPositions, nameof(reservedPositions));
        int rows = reservedRows ?? maxRows;
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1, nameof(reservedRows));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, maxRows, nameof(reservedRows));
        _backend = backend;
        _config = config;
        _kvDim = config.KvDim;
        MaxRows = maxRows;
        MaxPositions = maxPositions;
        AllRowLogits = allRowLogits;
        try
        {
            _rowBuffers = ActivationRows.Allocate(backend, config, rows, allRowLogits ? rows : 1);
            Rows = rows;
            _kCache = new DeviceBuffer[config.NumLayers];
            _vCache = new DeviceBuffer[config.NumLayers];
            _cacheLayers = oneLayerCache ? 1 : config.NumLayers;
            // The shared one-layer cache runs whole windows from position 0 (the pruning driver): it never slides.
            _windows = [.. Enumerable.Range(0, _cacheLayers).Select(l => oneLayerCache ? 0 : config.AttentionWindow(l))];
            _capacity = [.. _windows.Select(w => Math.Min(reserved, Limit(w)))];
            _cacheStart = new int[_cacheLayers];
            for (int l = 0; l < _cacheLayers; l++)
            {
                _kCache[l] = backend.Allocate((long)_capacity[l] * _kvDim);
                _vCache[l] = backend.Allocate((long)_capacity[l] * _kvDim);
            }
            ShareFirstLayerCache();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Bytes a state of <paramref name="maxRows"/> rows takes once its KV cache holds <paramref name="maxPositions"/>
    /// positions: the activations of every row, the logits, and each layer's cache (a sliding-window layer's at most
    /// two windows and a chunk). The figure to refuse a run with before it allocates.
    /// </summary>
    public static long EstimateBytes(LlamaConfig config, int maxRows, int maxPositions, bool allRowLogits)
    {
        ArgumentNullException.ThrowIfNull(config);
        // Hidden, Normed, Projected; Q, AttentionOut; K, V; Gate, Up: as the constructor allocates them.
        long rowFloats = (3L * config.HiddenSize) + (2L * config.QDim) + (2L * config.KvDim) + (2L * config.IntermediateSize);
        long logitFloats = (allRowLogits ? maxRows : 1L) * config.VocabSize;
        long cachedPositions = 0;
        for (int l = 0; l < config.NumLayers; l++)
        {
            int window = config.AttentionWindow(l);
            cachedPositions += window == 0 ? maxPositions : Math.Min(maxPositions, (2L * window) + maxRows);
        }
        return ((maxRows * rowFloats) + logitFloats + (2 * cachedPositions * config.KvDim)) * sizeof(float);
    }

    /// <summary>
    /// Throws unless this state was sized for a model of <paramref name="config"/>'s shapes: another model's state would
    /// index past its buffers, or hand back part of its logits as if they were all.
    /// </summary>
    internal void RequireFits(LlamaConfig config, string parameter)
    {
        // Every model call given a state checks this first: a disposed state's cache is freed, and a pass on it would
        // grow new activation rows that nothing frees before failing on the cache.
        ThrowIfDisposed();
        if (ReferenceEquals(config, _config))
        {
            return; // made by this model's CreateState: the call on every forward pass stays a comparison
        }
        string held = ShapeOf(_config), wanted = ShapeOf(config);
        if (held != wanted)
        {
            throw new ArgumentException($"the state was created for a model of {held}, not for this model of {wanted}; create it with this model's CreateState", parameter);
        }
    }

    private static string ShapeOf(LlamaConfig c) => FormattableString.Invariant(
        $"{c.NumLayers} layers, hidden {c.HiddenSize}, q {c.QDim}, kv {c.KvDim}, MLP {c.IntermediateSize}, vocab {c.VocabSize}")
        + (c.SlidingWindow is int w && c.SlidingWindowLayers.Count > 0 ? FormattableString.Invariant($", a window of {w} on layers {string.Join(',', c.SlidingWindowLayers)}") : "");

    /// <summary>Tokens one forward call takes at most; longer inputs run in chunks of this many.</summary>
    public int MaxRows { get; }

    /// <summary>The most positions this state holds: forward calls beyond it are refused.</summary>
    public int MaxPositions { get; }

    /// <summary>
    /// Positions 0 … Positions − 1 of the KV cache hold keys and values that <see cref="LlamaModel.Forward"/> or
    /// <see cref="LlamaModel.ForwardBatch"/> wrote: the next call may start at any position up to this one (at it to
    /// go on, before it to rewind), never past it, where attention would read positions no pass has run. A
    /// sliding-window layer's cache drops positions (<see cref="CacheStart"/>): a rewind may go back only as far as
    /// its window still finds its keys, or to 0.
    /// </summary>
    public int Positions { get; internal set; }

    /// <summary>
    /// Positions the run in progress can reach at most, where its caller knows it (a served request: its prompt plus
    /// max_tokens): the cache's doubling stops there rather than allocate positions no token will use, which a cache
    /// kept idle for a later turn would hold on to. A call that needs more still gets it. Null: up to
    /// <see cref="MaxPositions"/>.
    /// </summary>
    internal int? GrowthLimit { get; set; }

    /// <summary>Positions the largest layer's KV cache is allocated for now (≤ <see cref="MaxPositions"/>).</summary>
    public int KvCapacity => _capacity.Max();

    /// <summary>Bytes of the KV cache now: 2 (k, v) · Σ over layers of its positions · kvHeads·headDim · 4.</summary>
    public long KvCacheBytes => 2L * _capacity.Sum(c => (long)c) * _kvDim * sizeof(float);

    /// <summary>
    /// The position row 0 of <paramref name="layer"/>'s cache holds (<see cref="AttentionShape.CacheStart"/>): 0, or
    /// for a sliding-window layer the first position a window still reaches after its cache slid.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not a layer of the model.</exception>
    public int CacheStart(int layer)
    {
        if ((uint)layer >= (uint)_kCache.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), FormattableString.Invariant($"layer {layer} outside the model's layers: expected 0 to {_kCache.Length - 1}"));
        }
        return _cacheStart[CacheLayer(layer)];
    }
    /// <summary>Whether <see cref="Logits"/> holds every row's logits (else the last row's).</summary>
    public bool AllRowLogits { get; }

    /// <summary>
    /// Rows the activation buffers hold now (≤ <see cref="MaxRows"/>): the state's reservation, grown by the calls that
    /// ran more (<see cref="EnsureRows"/>); 0 while a served slot's state is idle (<see cref="ReleaseRows"/>).
    /// </summary>
    public int Rows { get; private set; }

    /// <summary>Bytes of the activation buffers and the logits now: <see cref="Rows"/> rows of each, and the logits' rows × vocab, × 4.</summary>
    public long ActivationBytes => _rowBuffers?.Bytes ?? 0;

    /// <summary>Rows of <see cref="Logits"/>: <see cref="Rows"/> when every position's logits are wanted, else 1 (0 while the state holds no rows).</summary>
    public int LogitRows => AllRowLogits ? Rows : Math.Min(Rows, 1);

    /// <summary>
    /// Makes the activation buffers (and every row's logits) hold at least <paramref name="rows"/> rows: smaller ones
    /// are replaced by buffers of max(rows, 2 × <see cref="Rows"/>) rows, capped by <see cref="MaxRows"/>, as
    /// <see cref="EnsurePositions"/> grows the cache. What they held is not kept: it is scratch of one forward call, so
    /// a caller grows them before a call, never between a call and its reads (its logits, <see cref="Hidden"/>).
    /// The old buffers go first, so growing costs the new ones only; where the backend refuses those, the state holds
    /// no rows (<see cref="Rows"/> 0) until a later call grows it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> exceeds <see cref="MaxRows"/>.</exception>
    public void EnsureRows(int rows)
    {
        ThrowIfDisposed();
        if (rows <= Rows)
        {
            return;
        }
        if (rows > MaxRows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, FormattableString.Invariant($"{rows} rows exceed the state's {MaxRows} rows per call"));
        }
        int grown = (int)Math.Min(MaxRows, Math.Max(rows, 2L * Rows));
        ReleaseRows();
        _rowBuffers = ActivationRows.Allocate(_backend, _config, grown, AllRowLogits ? grown : 1);
        Rows = grown;
    }

    /// <summary>
    /// Frees the activation buffers and logits, keeping the KV cache: an idle served slot holds its cache for the next
    /// turn, not the rows of the last prompt it ran. The next call grows them again (<see cref="EnsureRows"/>).
    /// </summary>
    internal void ReleaseRows()
    {
        if (_rowBuffers is null)
        {
            return;
        }
        // Kernels enqueued on the device may still read them: wait before freeing.
        _backend.Synchronize();
        _rowBuffers.Dispose();
        _rowBuffers = null;
        Rows = 0;
    }

    private ActivationRows RowBuffers => _disposed ? throw new ObjectDisposedException(GetType().FullName) : _rowBuffers ?? throw new InvalidOperationException("the state holds no rows: a call grows them first (EnsureRows)");

    /// <summary>The residual stream. // [rows, hidden]</summary>
    public DeviceBuffer Hidden => RowBuffers.Hidden;
    /// <summary>RMSNorm output, the input of q/k/v and of gate/up. // [rows, hidden]</summary>
    public DeviceBuffer Normed => RowBuffers.Normed;
    /// <summary>q_proj output, the queries. // [rows, heads·headDim]</summary>
    public DeviceBuffer Q => RowBuffers.Q;
    /// <summary>k_proj output, the keys before they are rotated into the cache. // [rows, kvHeads·headDim]</summary>
    public DeviceBuffer K => RowBuffers.K;
    /// <summary>v_proj output, the values before they are copied into the cache. // [rows, kvHeads·headDim]</summary>
    public DeviceBuffer V => RowBuffers.V;
    /// <summary>Attention output, the input of o_proj. // [rows, heads·headDim]</summary>
    public DeviceBuffer AttentionOut => RowBuffers.AttentionOut;
    /// <summary>o_proj and down_proj outputs before the residual add. // [rows, hidden]</summary>
    public DeviceBuffer Projected => RowBuffers.Projected;
    /// <summary>gate_proj output, then silu(gate) · up: the input of down_proj. // [rows, intermediate]</summary>
    public DeviceBuffer Gate => RowBuffers.Gate;
    /// <summary>up_proj output; may be left unwritten where the backend fuses gate and up (<see cref="IBackend.MatMulSiluGate"/>). // [rows, intermediate]</summary>
    public DeviceBuffer Up => RowBuffers.Up;
    /// <summary>Logits of the last row, or of every row (<see cref="LogitRows"/>). // [LogitRows, vocab]</summary>
    public DeviceBuffer Logits => RowBuffers.Logits;
    /// <summary>Per layer; replaced by larger buffers when the cache grows. Row r holds position <see cref="CacheStart"/> + r. // [capacity, kvHeads·headDim]</summary>
    /// <exception cref="ObjectDisposedException">The state was disposed: its entries are freed (a buffer read from them
    /// failed as "Value cannot be null (Parameter 'buffer')").</exception>
    public DeviceBuffer[] KCache => _disposed ? throw new ObjectDisposedException(GetType().FullName) : _kCache;
    /// <summary>The values, as <see cref="KCache"/> holds the keys. // [capacity, kvHeads·headDim]</summary>
    /// <exception cref="ObjectDisposedException">The state was disposed.</exception>
    public DeviceBuffer[] VCache => _disposed ? throw new ObjectDisposedException(GetType().FullName) : _vCache;

    /// <summary>
    /// Whether a pass may start at <paramref name="startPos"/> as far as the sliding-window caches go: 0 starts again,
    /// and any other position needs the window − 1 positions before it still held. Returns a layer that cannot, or -1.
    /// </summary>
    internal int LayerMissingKeysFor(int startPos)
    {
        for (int l = 0; l < _cacheLayers; l++)
        {
            if (!Reaches(l, startPos))
            {
                return l;
            }
        }
        return -1;
    }

    /// <summary>Whether <paramref name="layer"/>'s cache holds the keys a pass from <paramref name="startPos"/> reads (see <see cref="LayerMissingKeysFor"/>).</summary>
    internal bool Reaches(int layer, int startPos)
    {
        int l = CacheLayer(layer);
        return _windows[l] == 0 || startPos == 0 || Math.Max(0, startPos - _windows[l] + 1) >= _cacheStart[l];
    }

    /// <summary>
    /// Readies the sliding-window caches for a chunk of <paramref name="rows"/> positions from
    /// <paramref name="startPos"/> (after <see cref="EnsurePositions"/>): a pass from 0 starts a layer's cache again;
    /// a chunk that would pass a cache's end moves the window − 1 positions before the chunk to the cache's start.
    /// </summary>
    internal void SlideWindows(int startPos, int rows)
    {
        for (int l = 0; l < _cacheLayers; l++)
        {
            SlideWindow(l, startPos, rows);
        }
    }

    /// <summary><see cref="SlideWindows"/> for one layer's cache (a pass that runs one layer at a time).</summary>
    internal void SlideWindow(int layer, int startPos, int rows)
    {
        int l = CacheLayer(layer);
        int window = _windows[l];
        if (window == 0)
        {
            return;
        }
        if (startPos == 0)
        {
            _cacheStart[l] = 0;
            return;
        }
        int start = _cacheStart[l];
        if (startPos + rows - start > _capacity[l])
        {
            // Keys first .. startPos − 1 are what the chunk's rows still read; they go to rows 0 .. startPos − first − 1.
            // The limit (2·window + MaxRows) keeps the source past the destination, so the copies never overlap.
            int first = Math.Max(start, startPos - window + 1);
            long kept = (long)(startPos - first) * _kvDim;
            _backend.Copy(_kCache[l], (long)(first - start) * _kvDim, _kCache[l], 0, kept);
            _backend.Copy(_vCache[l], (long)(first - start) * _kvDim, _vCache[l], 0, kept);
            _cacheStart[l] = first;
        }
    }

    /// <summary>The most positions a cache with <paramref name="window"/> holds: every one without a window.</summary>
    private int Limit(int window) => window == 0 ? MaxPositions : (int)Math.Min(MaxPositions, 2L * window + MaxRows);

    private int CacheLayer(int layer) => _cacheLayers == 1 ? 0 : layer;

    /// <summary>
    /// Makes this state hold what <paramref name="source"/> holds after a pass over <paramref name="positions"/>
    /// positions from 0: its KV cache rows copied on the device, so a sequence that starts with the same prompt need not
    /// run it again. Both are states of one model with the same rows and context; the source holds those positions and
    /// no more.
    /// </summary>
    internal void CopyCacheFrom(RunState source, int positions)
    {
        ArgumentNullException.ThrowIfNull(source);
        source.ThrowIfDisposed();
        RequireFits(source._config, nameof(source));
        if (source._cacheLayers != _cacheLayers || source.MaxRows != MaxRows || source.MaxPositions != MaxPositions || source.Positions != positions)
        {
            throw new ArgumentException($"the state holds {source.Positions} positions of {source.MaxPositions} in rows of {source.MaxRows}, not the {positions} of {MaxPositions} in rows of {MaxRows} asked", nameof(source));
        }
        for (int l = 0; l < _cacheLayers; l++)
        {
            _cacheStart[l] = source._cacheStart[l];
        }
        EnsurePositions(positions);
        for (int l = 0; l < _cacheLayers; l++)
        {
            long rows = (long)(positions - _cacheStart[l]) * _kvDim;
            _backend.Copy(source._kCache[l], 0, _kCache[l], 0, rows);
            _backend.Copy(source._vCache[l], 0, _vCache[l], 0, rows);
        }
        Positions = positions;
    }

    /// <summary>
    /// Makes the KV cache hold at least <paramref name="positions"/> positions: a layer's cache that is smaller is
    /// reallocated for max(positions, twice its capacity) positions, capped by <see cref="MaxPositions"/> (a
    /// sliding-window layer's by its own limit, past which it slides instead) and the doubling by
    /// <see cref="GrowthLimit"/>, and the cached positions are copied
    /// over (Allocate + Copy, on any backend).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="positions"/> exceeds <see cref="MaxPositions"/>.</exception>
    public void EnsurePositions(int positions)
    {
        ThrowIfDisposed();
        if (positions > MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(positions), positions,
                $"positions 0..{positions - 1} exceed the context of {MaxPositions} positions");
        }
        for (int l = 0; l < _cacheLayers; l++)
        {
            int limit = Limit(_windows[l]);
            if (positions - _cacheStart[l] <= _capacity[l] || _capacity[l] == limit)
            {
                continue;
            }
            long doubled = 2L * _capacity[l];
            if (GrowthLimit is int reach)
            {
                doubled = Math.Min(doubled, (long)reach - _cacheStart[l]);
            }
            int grown = (int)Math.Min(limit, Math.Max(positions - _cacheStart[l], doubled));
            // One layer at a time, so growing costs one layer's new cache beyond the old whole one.
            DeviceBuffer oldK = _kCache[l], oldV = _vCache[l];
            _kCache[l] = Grow(oldK, grown, _capacity[l]);
            try
            {
                _vCache[l] = Grow(oldV, grown, _capacity[l]);
            }
            catch
            {
                _kCache[l].Dispose();
                _kCache[l] = oldK;
                throw;
            }
            // The copies are enqueued: wait for them before freeing their sources.
            _backend.Synchronize();
            oldK.Dispose();
            oldV.Dispose();
            _capacity[l] = grown;
        }
        ShareFirstLayerCache();
    }

    // With one cache for all layers, every layer's slot refers to layer 0's buffers.
    private void ShareFirstLayerCache()
    {
        for (int l = _cacheLayers; l < _kCache.Length; l++)
        {
            _kCache[l] = _kCache[0];
            _vCache[l] = _vCache[0];
        }
    }

    private DeviceBuffer Grow(DeviceBuffer old, int positions, int held)
    {
        DeviceBuffer grown = _backend.Allocate((long)positions * _kvDim);
        _backend.Copy(old, 0, grown, 0, (long)held * _kvDim);
        return grown;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // 1 while a model's call runs on the state. Another call on it meanwhile, from a tap inside the pass or from another
    // thread (the model's lock is taken a prefill chunk at a time, and reading logits takes none), would write the
    // activations, cache and logits the first is using, and both would go on with the other's numbers.
    private int _inCall;

    /// <summary>
    /// Marks the state as in a call until the scope is disposed (each <see cref="LlamaModel"/> call given a state);
    /// refuses a call while another is in flight on it. One interlocked exchange: nothing a decode step allocates.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another call is in flight on the state.</exception>
    internal CallScope EnterCall()
    {
        if (Interlocked.Exchange(ref _inCall, 1) != 0)
        {
            throw new InvalidOperationException("this RunState is in another call now (from a tap inside that call's pass, or another thread): "
                + "a RunState serves one call at a time; use one state per concurrent call");
        }
        return new CallScope(this);
    }

    /// <summary>Ends the call <see cref="EnterCall"/> began; for a call that cannot hold a scope (a batch's sequences).</summary>
    internal void LeaveCall() => Volatile.Write(ref _inCall, 0);

    /// <summary>A call in flight on a state; disposing it ends the call.</summary>
    internal readonly ref struct CallScope(RunState state)
    {
        public void Dispose() => state.LeaveCall();
    }

    /// <summary>
    /// Frees every buffer and the KV cache; the backend stays. Every call given the state then throws
    /// <see cref="ObjectDisposedException"/>. Disposing again does nothing.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        _rowBuffers?.Dispose();
        _rowBuffers = null;
        Rows = 0;
        foreach (DeviceBuffer[]? caches in new[] { _kCache, _vCache })
        {
            if (caches is null)
            {
                continue;
            }
            for (int l = 0; l < caches.Length; l++)
            {
                caches[l]?.Dispose();
                caches[l] = null!;
            }
        }
    }
}
