using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// One decoder layer at a time, for the pruning driver: a state sized for one layer's windows, the embedding, a layer
/// on activations the caller holds, and the head.
/// </summary>
public sealed partial class LlamaModel
{
    /// <summary>
    /// A state for running one decoder layer at a time (<see cref="ForwardLayer"/>) over windows of up to
    /// <paramref name="rows"/> tokens, each from position 0: the activation buffers and one layer's KV cache, which every
    /// layer shares (a layer-sequential pass never reads a layer's cache after running another). The pruning driver's.
    /// </summary>
    public RunState CreateLayerState(int rows)
    {
        ThrowIfDisposed();
        if (rows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), FormattableString.Invariant($"a layer state needs rows ≥ 1, got {rows}"));
        }
        if (rows > Config.MaxPositionEmbeddings)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows,
                $"the model's context is {Config.MaxPositionEmbeddings} positions (max_position_embeddings)");
        }
        EnsureRope(rows);
        return new RunState(Backend, Config, rows, rows, allRowLogits: false, rows, oneLayerCache: true);
    }

    /// <summary>Writes the embeddings of <paramref name="tokens"/> into <paramref name="hidden"/>. // [tokens, hidden]</summary>
    public void Embed(ReadOnlySpan<int> tokens, DeviceBuffer hidden)
    {
        // The lock first: a Dispose waiting behind a pass in flight runs before this call goes on.
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ValidateTokens(tokens);
        Embedding(tokens, hidden);
    }

    /// <summary>
    /// Runs decoder layer <paramref name="layer"/> in place on <paramref name="hidden"/> [rows, hidden] at positions
    /// startPos.., using <paramref name="state"/> for scratch and the layer's KV cache. The pruning driver uses
    /// this to push calibration activations through one layer at a time.
    /// </summary>
    public void ForwardLayer(RunState state, int layer, DeviceBuffer hidden, int rows, int startPos, IForwardTap? tap = null)
    {
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        using RunState.CallScope call = state.EnterCall();
        Layer(state, layer, hidden, rows, startPos, tap, inputNormed: false, nextNorm: null);
    }

    /// <summary>Final RMSNorm and lm_head over the first <paramref name="rows"/> rows of <paramref name="hidden"/>, into state.Logits.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is below 1 or past the state's <see cref="RunState.LogitRows"/>.</exception>
    public void Head(RunState state, DeviceBuffer hidden, int rows)
    {
        // The lock first: a Dispose waiting behind a pass in flight runs before this call goes on.
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        using RunState.CallScope call = state.EnterCall();
        HeadOfRows(state, hidden, rows);
    }

    // Head within a call that holds the state (a batch step's).
    private void HeadOfRows(RunState state, DeviceBuffer hidden, int rows)
    {
        // Its rows' norms and logits go into the state's buffers, which hold the rows its calls ran (RunState.Rows) and
        // its logit rows (those rows, or the last one's): refused here, naming the rows, not by a kernel's buffer check.
        if (rows < 1 || rows > state.LogitRows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), FormattableString.Invariant($"rows {rows} outside the state's logit rows: expected 1 to {state.LogitRows}"));
        }
        HeadInto(state, hidden, rows, state.Logits);
    }

    /// <summary>
    /// Logits of rows <paramref name="first"/> … first + <paramref name="rows"/> − 1 of the last pass, a
    /// <see cref="Forward"/> of at most the state's MaxRows tokens in one call (any <see cref="LogitsMode"/>; None
    /// computes no logits of its own), into <paramref name="logits"/> [rows, vocab]. A caller scoring a window takes
    /// its logits a block at a time and holds a block's, not the window's (1 GB at 2,048 positions of a 128k
    /// vocabulary, more than a small model's weights). Each row is the one <see cref="LogitsMode.All"/> computes.
    /// </summary>
    public void HeadRows(RunState state, int first, int rows, DeviceBuffer logits)
    {
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(logits);
        state.RequireFits(Config, nameof(state));
        using RunState.CallScope call = state.EnterCall();
        // The rows the state holds (Rows): its buffers grow with the calls that ran, so a row past them no pass wrote.
        if (first < 0 || rows < 1 || first + rows > state.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), FormattableString.Invariant($"rows {first}..{first + rows - 1} outside the state's 0..{state.Rows - 1}"));
        }
        if (logits.Length < (long)rows * Config.VocabSize)
        {
            throw new ArgumentException(FormattableString.Invariant($"logits holds {logits.Length} floats; {rows} rows of the vocabulary need {(long)rows * Config.VocabSize}"), nameof(logits));
        }
        // The rows move to the start of a scratch buffer the pass is done with: the kernels take a buffer from row 0.
        Backend.Copy(state.Hidden, (long)first * Config.HiddenSize, state.Projected, 0, (long)rows * Config.HiddenSize);
        HeadInto(state, state.Projected, rows, logits);
    }

    private void HeadInto(RunState state, DeviceBuffer hidden, int rows, DeviceBuffer logits)
    {
        Backend.RmsNorm(hidden, Weights.FinalNorm, state.Normed, rows, Config.HiddenSize, (float)Config.RmsNormEps);
        Backend.MatMul(state.Normed, Weights.LmHead, logits, rows);
        // Granite divides the logits by logits_scaling; its configs use powers of two, where the reciprocal is exact.
        ScaleBy(logits, 1.0 / Config.LogitsScaling, (long)rows * Config.VocabSize);
    }
}
