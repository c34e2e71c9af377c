namespace Copal.Model.Generation.Constraints;

/// <summary>
/// OpenAI's JSON mode for one sequence: before each token is chosen, every token that would not keep the reply a
/// prefix of a JSON object (<see cref="JsonPrefix"/>) gets the logit −∞, so the sampler never chooses one, greedy or
/// drawn, whatever its penalties, bias, temperature, top-k, top-p or min-p (the mask comes first, as vLLM's guided
/// decoding's does); after it, the automaton takes the chosen token's bytes. Once the object is complete only a stop
/// token may follow. One per sequence, used by one thread.
/// </summary>
internal sealed class JsonObjectConstraint(JsonVocabulary vocabulary)
{
    private JsonPrefix _state;
    private long _bytes;
    private float[] _kept = [];

    /// <summary>The reply is a whole JSON object: it ends here.</summary>
    public bool IsComplete => _state.IsComplete;

    /// <summary>
    /// Sets every logit of <paramref name="logits"/> (token ids from 0) that may not come next to −∞ and returns how
    /// many tokens may; 0 when none can (then the logits are left as they were). Ids past the vocabulary's tokens are
    /// never allowed.
    /// </summary>
    public int Mask(Span<float> logits)
    {
        int tokens = Math.Min(logits.Length, vocabulary.Trie.TokenCount);
        if (_state.IsComplete)
        {
            return Keep(logits, vocabulary.StopIds);
        }
        TokenSet set = vocabulary.Allowed(_state);
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
        if (_kept.Length < count)
        {
            _kept = new float[Math.Max(count, 2 * _kept.Length)];
        }
        for (int i = 0; i < count; i++)
        {
            _kept[i] = logits[allowed[i]];
        }
        logits.Fill(float.NegativeInfinity);
        for (int i = 0; i < count; i++)
        {
            logits[allowed[i]] = _kept[i];
        }
        return count;
    }

    /// <summary>Takes the bytes of <paramref name="token"/>, one <see cref="Mask"/> allowed.</summary>
    /// <exception cref="InvalidOperationException">The token was not one the mask allowed.</exception>
    public void Advance(int token)
    {
        ReadOnlySpan<byte> bytes = (uint)token < (uint)vocabulary.Trie.TokenCount ? vocabulary.Trie.Bytes(token) : default;
        if (bytes.IsEmpty || !_state.TryAdvance(bytes))
        {
            throw new InvalidOperationException($"token {token} was chosen though JSON mode does not allow it after {_bytes} bytes (expecting {_state.Expected()})");
        }
        _bytes += bytes.Length;
    }

    /// <summary>Why no token could follow, for the error that ends the reply (when <see cref="Mask"/> returned 0).</summary>
    public string DeadEnd() => _state.IsComplete
        ? $"the JSON object is complete after {_bytes} bytes, and the model has no end-of-sequence token to end it with"
        : $"no token of the model's vocabulary continues the JSON after {_bytes} bytes of the reply (expecting {_state.Expected()}): the vocabulary lacks the bytes JSON needs there";
}
