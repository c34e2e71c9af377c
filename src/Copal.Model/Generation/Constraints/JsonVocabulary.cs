using System.Buffers;
using Copal.Model.Tokenization;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The tokens JSON mode chooses among for one model, and the masks it has made: the trie of the tokens' bytes, the
/// stop tokens that may end a complete object, and a cache of the tokens each automaton state allows. A reply stays in
/// a few states for most of its tokens (inside a string, between members at one depth), so most steps reuse a mask
/// instead of walking the trie (a walk over a 128k vocabulary takes a millisecond or two). Shared by every sequence of
/// a model; thread-safe.
/// </summary>
internal sealed class JsonVocabulary(TokenTrie trie, IReadOnlySet<int> stopIds)
{
    /// <summary>States whose masks are kept; past it the cache starts again (a reply rarely meets more than a few dozen).</summary>
    internal const int CachedStates = 256;

    /// <summary>Token ids the kept masks may hold together (16 MB), whatever their count.</summary>
    internal const long CachedIds = 4L << 20;

    private readonly Dictionary<JsonPrefix, TokenSet> _masks = [];
    private long _cachedIds;

    public TokenTrie Trie { get; } = trie;

    /// <summary>The stop tokens that may end a complete object, in increasing order (as a mask reads a row).</summary>
    public int[] StopIds { get; } = [.. stopIds.Order()];

    /// <summary>
    /// The tokens of the trie (ids 0 .. <see cref="TokenTrie.TokenCount"/> − 1) that <paramref name="state"/> allows
    /// next, as the shorter of the two lists: those allowed, or those refused.
    /// </summary>
    public TokenSet Allowed(JsonPrefix state)
    {
        lock (_masks)
        {
            if (_masks.TryGetValue(state, out TokenSet? kept))
            {
                return kept;
            }
        }
        TokenSet mask = Walk(state);
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

    private TokenSet Walk(JsonPrefix state)
    {
        int tokens = Trie.TokenCount;
        int[] buffer = ArrayPool<int>.Shared.Rent(tokens);
        try
        {
            int count = Trie.Allowed(state, buffer);
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

    /// <summary>
    /// JSON mode's tokens for a model: the bytes (<see cref="CopalTokenizer.TokenBytes"/>) of its tokens
    /// 0 .. <paramref name="decodable"/> − 1, without special tokens (which add no text to a reply) and without
    /// <paramref name="stopIds"/> (which end it, and may only come once the object is complete).
    /// </summary>
    public static JsonVocabulary Of(CopalTokenizer tokenizer, int decodable, IReadOnlySet<int> stopIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(stopIds);
        var bytes = new byte[]?[Math.Min(decodable, tokenizer.VocabSize)];
        for (int id = 0; id < bytes.Length; id++)
        {
            if (tokenizer.HasToken(id) && !tokenizer.IsSpecial(id) && !stopIds.Contains(id))
            {
                bytes[id] = tokenizer.TokenBytes(id);
            }
        }
        return new JsonVocabulary(new TokenTrie(bytes), stopIds);
    }
}

/// <summary>Token ids in increasing order: those a state allows, or, when <paramref name="AreRefused"/>, those it refuses.</summary>
internal sealed record TokenSet(int[] Ids, bool AreRefused);
