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
        Layer(state, layer, hidden, rows, startPos, tap, inputNormed: false, nextNorm: null);
    }

    /// <summary>Final RMSNorm and lm_head over the first <paramref name="rows"/> rows of <paramref name="hidden"/>, into state.Logits.</summary>
    public void Head(RunState state, DeviceBuffer hidden, int rows)
    {
        // The lock first: a Dispose waiting behind a pass in flight runs before this call goes on.
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(state);
        state.RequireFits(Config, nameof(state));
        Backend.RmsNorm(hidden, Weights.FinalNorm, state.Normed, rows, Config.HiddenSize, (float)Config.RmsNormEps);
        Backend.MatMul(state.Normed, Weights.LmHead, state.Logits, rows);
        // Granite divides the logits by logits_scaling; its configs use powers of two, where the reciprocal is exact.
        ScaleBy(state.Logits, 1.0 / Config.LogitsScaling, (long)rows * Config.VocabSize);
    }
}
