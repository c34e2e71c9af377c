using System.Buffers;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// Constrained decoding for one sequence by a byte-level automaton (<typeparamref name="TState"/>): before each token
/// is chosen, every token that would not keep the reply an accepted prefix gets the logit −∞, so the sampler never
/// chooses one, greedy or drawn, whatever its penalties, bias, temperature, top-k, top-p or min-p (the mask comes
/// first, as vLLM's guided decoding's does); after it, the automaton takes the chosen token's bytes. Once the text is
/// complete only a stop token may follow. One per sequence, used by one thread.
/// </summary>
internal class PrefixConstraint<TState>(TokenTrie trie, int[] stopIds, MaskCache<TState> masks, TState start, string what, string who, string formatName)
    : IDecodingConstraint
    where TState : struct, IBytePrefix<TState>
{
    private TState _state = start;
    private long _bytes;

    /// <inheritdoc/>
    public string FormatName => formatName;

    /// <summary>The reply is whole: it ends here.</summary>
    public bool IsComplete => _state.IsComplete;

    /// <summary>
    /// Sets every logit of <paramref name="logits"/> (token ids from 0) that may not come next to −∞ and returns how
    /// many tokens may; 0 when none can (then the logits are left as they were). Ids past the vocabulary's tokens are
    /// never allowed.
    /// </summary>
    public int Mask(Span<float> logits)
    {
        int tokens = Math.Min(logits.Length, trie.TokenCount);
        if (_state.IsComplete)
        {
            return Keep(logits, stopIds);
        }
        TokenSet set = masks.Allowed(_state);
        if (!set.AreRefused)
        {
            return Keep(logits, set.Ids);
        }
        // Ids are in order: those below the row's end are the refusals within it.
        int refused = set.Ids.AsSpan().BinarySearch(tokens) is int at && at >= 0 ? at : ~at;
        if (refused == tokens)
        {
            return 0;
        }
        foreach (int id in set.Ids.AsSpan(0, refused))
        {
            logits[id] = float.NegativeInfinity;
        }
        logits[tokens..].Fill(float.NegativeInfinity);
        return tokens - refused;
    }

    // Every logit but those of allowed (in increasing order) to −∞.
    private int Keep(Span<float> logits, int[] allowed)
    {
        int count = allowed.AsSpan().BinarySearch(logits.Length) is int at && at >= 0 ? at : ~at;
        if (count == 0)
        {
            return 0;
        }
        // Borrowed for the call: a buffer of the constraint's own, made per request, grew to as many as half the
        // vocabulary's floats (300 KB on 152k tokens, large-object heap) for every JSON request.
        float[] kept = ArrayPool<float>.Shared.Rent(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                kept[i] = logits[allowed[i]];
            }
            logits.Fill(float.NegativeInfinity);
            for (int i = 0; i < count; i++)
            {
                logits[allowed[i]] = kept[i];
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(kept);
        }
        return count;
    }

    /// <summary>Takes the bytes of <paramref name="token"/>, one <see cref="Mask"/> allowed.</summary>
    /// <exception cref="InvalidOperationException">The token was not one the mask allowed.</exception>
    public void Advance(int token)
    {
        ReadOnlySpan<byte> bytes = (uint)token < (uint)trie.TokenCount ? trie.Bytes(token) : default;
        if (bytes.IsEmpty || !_state.TryAdvance(bytes))
        {
            throw new InvalidOperationException($"token {token} was chosen though {who} does not allow it after {_bytes} bytes (expecting {_state.Expected()})");
        }
        _bytes += bytes.Length;
    }

    /// <summary>Why no token could follow, for the error that ends the reply (when <see cref="Mask"/> returned 0).</summary>
    public string DeadEnd() => _state.IsComplete
        ? $"the {what} is complete after {_bytes} bytes, and the model has no end-of-sequence token to end it with"
        : $"no token of the model's vocabulary continues the JSON after {_bytes} bytes of the reply (expecting {_state.Expected()}): the vocabulary lacks the bytes JSON needs there";
}
