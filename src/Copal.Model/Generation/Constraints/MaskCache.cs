using System.Buffers;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The masks one automaton has made over one token trie, by state: a reply stays in a few states for most of its
/// tokens (inside a string, between members at one depth), so most steps reuse a mask instead of walking the trie (a
/// walk over a 128k vocabulary takes a millisecond or two). Thread-safe: the sequences of a model share it.
/// </summary>
internal sealed class MaskCache<TState>(TokenTrie trie)
    where TState : struct, IBytePrefix<TState>
{
    /// <summary>States whose masks are kept; past it the cache starts again (a reply rarely meets more than a few dozen).</summary>
    internal const int CachedStates = 256;

    /// <summary>Token ids the kept masks may hold together (16 MB), whatever their count.</summary>
    internal const long CachedIds = 4L << 20;

    private readonly Dictionary<TState, TokenSet> _masks = [];
    private long _cachedIds;
    private long _walks;

    /// <summary>Masks made by a walk of the trie (not found in the cache), for the tests and probes.</summary>
    public long Walks => Interlocked.Read(ref _walks);

    /// <summary>
    /// The tokens of the trie (ids 0 .. <see cref="TokenTrie.TokenCount"/> − 1) that <paramref name="state"/> allows
    /// next, as the shorter of the two lists: those allowed, or those refused.
    /// </summary>
    public TokenSet Allowed(TState state)
    {
        lock (_masks)
        {
            if (_masks.TryGetValue(state, out TokenSet? kept))
            {
                return kept;
            }
        }
        TokenSet mask = Walk(state);
        Interlocked.Increment(ref _walks);
        lock (_masks)
        {
            if (_masks.Count == CachedStates || _cachedIds + mask.Ids.Length > CachedIds)
            {
                _masks.Clear();
                _cachedIds = 0;
            }
            if (_masks.TryAdd(state, mask))
            {
                _cachedIds += mask.Ids.Length;
            }
        }
        return mask;
    }

    private TokenSet Walk(TState state)
    {
        int tokens = trie.TokenCount;
        int[] buffer = ArrayPool<int>.Shared.Rent(tokens);
        try
        {
            int count = trie.Allowed(state, buffer);
            if (count <= tokens / 2)
            {
                int[] allowed = buffer[..count];
                Array.Sort(allowed); // in id order, the order a row of logits is read in
                return new TokenSet(allowed, AreRefused: false);
            }
            bool[] isAllowed = new bool[tokens];
            foreach (int id in buffer.AsSpan(0, count))
            {
                isAllowed[id] = true;
            }
            var refused = new int[tokens - count];
            for (int id = 0, r = 0; id < tokens; id++)
            {
                if (!isAllowed[id])
                {
                    refused[r++] = id;
                }
            }
            return new TokenSet(refused, AreRefused: true);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(buffer);
        }
    }
}
