using Copal.Model.Generation.Constraints;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Generation.Constraints;

/// <summary>The reference the trie walks are held to: each token of the vocabulary tried on its own from a state.</summary>
internal static class TokenByToken
{
    /// <summary>The ids whose bytes <paramref name="state"/> takes whole (special tokens and <paramref name="stops"/> left out, as the masks leave them).</summary>
    public static HashSet<int> Allowed<T>(CopalTokenizer tokenizer, ISet<int> stops, T state)
        where T : struct, IBytePrefix<T>
    {
        var allowed = new HashSet<int>();
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            if (!tokenizer.HasToken(id) || tokenizer.IsSpecial(id) || stops.Contains(id))
            {
                continue;
            }
            byte[] bytes = tokenizer.TokenBytes(id);
            T s = state;
            if (bytes.Length > 0 && s.TryAdvance(bytes))
            {
                allowed.Add(id);
            }
        }
        return allowed;
    }
}
