using Copal.Model.Tokenization;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The tokens constrained decoding (JSON mode, structured outputs) chooses among for one model, and JSON mode's masks:
/// the trie of the tokens' bytes, the stop tokens that may end a complete reply, and a cache of the tokens each JSON
/// mode state allows (each compiled schema keeps its own, <see cref="MaskCache{TState}"/>). A reply stays in
/// a few states for most of its tokens (inside a string, between members at one depth), so most steps reuse a mask
/// instead of walking the trie (a walk over a 128k vocabulary takes a millisecond or two). Shared by every sequence of
/// a model; thread-safe.
/// </summary>
internal sealed class JsonVocabulary(TokenTrie trie, IReadOnlySet<int> stopIds)
{
    /// <summary>States whose masks are kept; past it the cache starts again (a reply rarely meets more than a few dozen).</summary>
    internal const int CachedStates = MaskCache<JsonPrefix>.CachedStates;

    /// <summary>Token ids the kept masks may hold together (16 MB), whatever their count.</summary>
    internal const long CachedIds = MaskCache<JsonPrefix>.CachedIds;

    public TokenTrie Trie { get; } = trie;

    /// <summary>The stop tokens that may end a complete object, in increasing order (as a mask reads a row).</summary>
    public int[] StopIds { get; } = [.. stopIds.Order()];

    /// <summary>JSON mode's masks, by state.</summary>
    public MaskCache<JsonPrefix> Masks { get; } = new(trie);

    /// <summary>
    /// The tokens of the trie (ids 0 .. <see cref="TokenTrie.TokenCount"/> − 1) that <paramref name="state"/> allows
    /// next, as the shorter of the two lists: those allowed, or those refused.
    /// </summary>
    public TokenSet Allowed(JsonPrefix state) => Masks.Allowed(state);

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
