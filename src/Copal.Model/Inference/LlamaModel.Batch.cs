using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// Batched decode: one forward pass over the last token of several sequences, each on its own KV cache (serving's
/// continuous batching).
/// </summary>
public sealed partial class LlamaModel
{
    /// <summary>
    /// One decode step for several independent sequences at once: row i of the batch is token
    /// <paramref name="tokens"/>[i] of sequence <paramref name="sequences"/>[i] at position
    /// <paramref name="positions"/>[i]. The linears run once over all rows (one pass over each weight serves every
    /// sequence: the GEMM path, or the sparse kernels for compact weights); RoPE, the KV-cache write and attention run
    /// per row on that sequence's own cache, using its state's one-row buffers as scratch. Row i's logits land in
    /// row i of <c>batch.Logits</c>. Each row computes what <see cref="Forward"/> of that one token would, up to the
    /// summation order of the matrix kernels (docs/testing.md).
    /// </summary>
    /// <param name="batch">Activation buffers for the rows: MaxRows ≥ rows and all-row logits (grown to the rows where it holds fewer); its own KV cache is unused.</param>
    /// <param name="sequences">Each row's state: its KV cache, and one-row scratch buffers.</param>
    /// <param name="tokens">Each row's token.</param>
    /// <param name="positions">Each row's position in its sequence.</param>
    public void ForwardBatch(RunState batch, IReadOnlyList<RunState> sequences, ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions)
    {
        // The lock first: a Dispose waiting behind a pass in flight runs before this call goes on.
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(sequences);
        batch.RequireFits(Config, nameof(batch));
        using RunState.CallScope batchCall = batch.EnterCall();
        for (int i = 0; i < sequences.Count; i++)
        {
            RunState s = sequences[i] ?? throw new ArgumentNullException($"{nameof(sequences)}[{i}]");
            s.RequireFits(Config, $"{nameof(sequences)}[{i}]");
            // Two rows of one sequence would write one cache position twice in a step.
            for (int j = 0; j < i; j++)
            {
                if (ReferenceEquals(sequences[j], s))
                {
                    throw new ArgumentException($"sequences[{j}] and sequences[{i}] are the same state; a batch step takes each sequence once", nameof(sequences));
                }
            }
        }
        // Each sequence's state is in this call too; one that is the batch is held already.
        int entered = 0;
        try
        {
            for (; entered < sequences.Count; entered++)
            {
                if (!ReferenceEquals(sequences[entered], batch))
                {
                    sequences[entered].EnterCall();
                }
            }
            BatchStep(batch, sequences, tokens, positions);
        }
        finally
        {
            for (int i = 0; i < entered; i++)
            {
                if (!ReferenceEquals(sequences[i], batch))
                {
                    sequences[i].LeaveCall();
                }
            }
        }
    }

    // ForwardBatch's step, its states held.
    private void BatchStep(RunState batch, IReadOnlyList<RunState> sequences, ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions)
    {
        int rows = tokens.Length;
        if (rows == 0 || sequences.Count != rows || positions.Length != rows)
        {
            throw new ArgumentException($"a batch step needs one sequence and one position per token: {rows} tokens, {sequences.Count} sequences, {positions.Length} positions");
        }
        if (rows > batch.MaxRows || !batch.AllRowLogits)
        {
            throw new ArgumentException($"a batch of {rows} rows needs a state with all-row logits and MaxRows ≥ {rows} (has {batch.MaxRows}, {(batch.AllRowLogits ? "all-row logits" : "the last row's logits")})");
        }
        ValidateTokens(tokens);
        int furthest = 0;
        for (int i = 0; i < rows; i++)
        {
            RunState s = sequences[i];
            int pos = positions[i];
            if (pos < 0 || pos >= s.MaxPositions)
            {
                throw new ArgumentOutOfRangeException(nameof(positions), pos, $"batch row {i}: position {pos} is outside the sequence's context of {s.MaxPositions} positions");
            }
            CheckStartsWithinRun(s, pos, nameof(positions), batchRow: i);
        }
        for (int i = 0; i < rows; i++)
        {
            RunState s = sequences[i];
            int pos = positions[i];
            s.EnsurePositions(pos + 1);
            s.EnsureRows(1); // its one-row scratch (RowScratch below)
            s.SlideWindows(pos, 1);
            s.Positions = pos;
            furthest = Math.Max(furthest, pos + 1);
        }
        EnsureRope(furthest);
        batch.EnsureRows(rows);
        IBackend b = Backend;
        LlamaConfig c = Config;
        int hiddenSize = c.HiddenSize;
        DeviceBuffer hidden = batch.Hidden;
        Embedding(tokens, hidden);
        for (int layer = 0; layer < c.NumLayers; layer++)
        {
            DecoderLayerWeights w = Weights.Layers[layer];
            // Later layers' normed inputs come from the previous layer's last residual add.
            Projections(AttentionInput(w, hidden, batch.Normed, rows, normedAlready: layer > 0), w, batch.Q, batch.K, batch.V, rows, layer, null);
            int window = c.AttentionWindow(layer);
            (DeviceBuffer cos, DeviceBuffer sin) = RopeOf(layer);
            for (int i = 0; i < rows; i++)
            {
                // Each row attends over its own sequence's cache: one fused op a row (two launches on a GPU, the
                // row worked on in place; the plain sequence goes through the sequence's one-row buffers).
                RunState s = sequences[i];
                var shape = new AttentionShape(1, positions[i], c.NumHeads, c.NumKvHeads, c.HeadDim, c.AttentionScale, window, s.CacheStart(layer), c.RotaryDim);
                b.BatchRowAttention(batch.Q, batch.K, batch.V, i, cos, sin, s.KCache[layer], s.VCache[layer], batch.AttentionOut,
                    new RowScratch(s.Q, s.K, s.V, s.AttentionOut), shape);
            }
            OutputAndMlp(w, layer, hidden, batch.AttentionOut, batch.Normed, batch.Gate, batch.Up, batch.Projected, rows, null, NextInputNorm(layer));
        }
        HeadOfRows(batch, hidden, rows);
        for (int i = 0; i < rows; i++)
        {
            sequences[i].Positions = positions[i] + 1;
        }
    }
}
