using System.Text;
using Copal.Model.Generation.Constraints;
using Copal.Model.Tests.Tokenization;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Generation.Constraints;

public class JsonMaskTests
{
    // States of every kind: before the object, between tokens, inside a key, a string, an escape, a surrogate pair, a
    // UTF-8 character, a literal, a number, after a whitespace run at its cap, deep in arrays, and complete.
    public static TheoryData<string, string> States()
    {
        var data = new TheoryData<string, string>();
        string[] prefixes =
        [
            "", "{", "{\"", "{\"ke", "{\"key\"", "{\"key\":", "{\"key\": \"va", "{\"key\":\"\\", "{\"key\":\"\\u00",
            "{\"key\":\"\\uD83D", "{\"key\":\"\\uD83D\\u", "{\"key\":\"\u00e9\u4e2d", "{\"key\":tr", "{\"key\":-", "{\"key\":12",
            "{\"key\":0.5e", "{\"key\":[", "{\"key\":[1,", "{\"key\":[[[{\"a\":null}]]", "{\n", "{\"a\":1}",
        ];
        foreach (string name in new[] { "llama2", "llama3", "stories260K" })
        {
            foreach (string prefix in prefixes)
            {
                data.Add(name, prefix);
            }
        }
        // Inside a character: its first byte taken, its others due.
        data.Add("llama3", "{\"k\":\"\u00e9"[..^1] + "\u00c3");
        return data;
    }

    private static JsonPrefix After(string text)
    {
        var state = new JsonPrefix();
        // \u00c3 in a prefix stands for the lone byte C3, the first of "é".
        byte[] bytes = text.EndsWith('\u00c3') ? [.. Encoding.UTF8.GetBytes(text[..^1]), 0xC3] : Encoding.UTF8.GetBytes(text);
        Assert.True(state.TryAdvance(bytes), text);
        return state;
    }

    [Theory]
    [MemberData(nameof(States))]
    public void The_trie_walk_allows_exactly_the_tokens_a_check_of_each_token_allows(string tokenizer, string prefix)
    {
        CopalTokenizer t = Tokenizers.Get(tokenizer);
        var stops = new HashSet<int> { t.EosId!.Value };
        JsonVocabulary vocabulary = JsonVocabulary.Of(t, t.VocabSize, stops);
        TokenTrie trie = vocabulary.Trie;
        JsonPrefix state = After(prefix);
        var allowed = new int[trie.TokenCount];
        var walked = allowed.AsSpan(0, trie.Allowed(state, allowed)).ToArray().ToHashSet();
        HashSet<int> expected = TokenByToken.Allowed(t, stops, state);
        Assert.Equal(expected.Count, walked.Count);
        Assert.True(expected.SetEquals(walked));
        // The vocabulary's list (the allowed or the refused ids, whichever is shorter), made and then kept, says the same.
        for (int pass = 0; pass < 2; pass++)
        {
            TokenSet set = vocabulary.Allowed(state);
            Assert.Equal(set.Ids.Order(), set.Ids);
            HashSet<int> listed = set.AreRefused ? [.. Enumerable.Range(0, trie.TokenCount).Except(set.Ids)] : [.. set.Ids];
            Assert.True(expected.SetEquals(listed));
            Assert.True(set.Ids.Length <= trie.TokenCount / 2 + 1);
        }
        // A complete object takes no more bytes; anything else has somewhere to go in these vocabularies.
        Assert.Equal(state.IsComplete, expected.Count == 0);
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("llama3")]
    [InlineData("stories260K")]
    public void Special_and_stop_tokens_are_never_in_the_trie(string tokenizer)
    {
        CopalTokenizer t = Tokenizers.Get(tokenizer);
        int eos = t.EosId!.Value;
        TokenTrie trie = JsonVocabulary.Of(t, t.VocabSize, new HashSet<int> { eos }).Trie;
        Assert.True(trie.Bytes(eos).IsEmpty);
        for (int id = 0; id < t.VocabSize; id++)
        {
            if (t.HasToken(id) && t.IsSpecial(id))
            {
                Assert.True(trie.Bytes(id).IsEmpty, $"special token {id} {t.IdToToken(id)}");
            }
        }
    }

    [Fact]
    public void Masks_stay_right_once_the_cache_has_started_again()
    {
        CopalTokenizer t = Tokenizers.Get("stories260K");
        JsonVocabulary vocabulary = JsonVocabulary.Of(t, t.VocabSize, new HashSet<int> { t.EosId!.Value });
        var allowed = new int[vocabulary.Trie.TokenCount];
        // More states than the cache keeps: each nesting depth after 0 to 5 spaces.
        for (int round = 0; round < 2; round++)
        {
            for (int depth = 1; depth < JsonPrefix.MaxDepth; depth++)
            {
                for (int spaces = 0; spaces < 6; spaces++)
                {
                    JsonPrefix state = After("{\"a\":" + new string('[', depth - 1) + new string(' ', spaces));
                    TokenSet set = vocabulary.Allowed(state);
                    int[] walked = [.. allowed.AsSpan(0, vocabulary.Trie.Allowed(state, allowed)).ToArray().Order()];
                    Assert.Equal(walked, set.AreRefused ? [.. Enumerable.Range(0, vocabulary.Trie.TokenCount).Except(set.Ids)] : set.Ids);
                }
            }
        }
        Assert.True(63 * 6 > JsonVocabulary.CachedStates);
    }

    private static TokenTrie Tiny(params string[] tokens) => new([.. tokens.Select(s => s.Length == 0 ? null : Encoding.UTF8.GetBytes(s))]);

    [Fact]
    public void The_mask_sets_the_logits_of_refused_tokens_to_minus_infinity_and_keeps_the_others()
    {
        // 0: the stop token (no bytes), then tokens of one and of several bytes, and a byte of "é".
        TokenTrie trie = new([null, "{"u8.ToArray(), "{\""u8.ToArray(), "\""u8.ToArray(), "a"u8.ToArray(), "\":"u8.ToArray(), "1}"u8.ToArray(), "}"u8.ToArray(), [0xC3], [0xA9]]);
        var json = new JsonObjectConstraint(new JsonVocabulary(trie, new HashSet<int> { 0 }));
        float[] logits = [.. Enumerable.Range(0, 11).Select(i => (float)i)];
        // Id 10 is past the trie's tokens (a padded row): never allowed.
        Assert.Equal(2, json.Mask(logits));
        Assert.Equal([float.NegativeInfinity, 1, 2, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], logits);
        json.Advance(2);
        logits = [.. Enumerable.Range(0, 11).Select(i => (float)i)];
        // In a key any text goes, a quote ends it: all but the stop token, a lone continuation byte and the padded row
        // (the list kept is of the refused ids here, the shorter).
        Assert.Equal(8, json.Mask(logits));
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f], logits.Where(l => l > float.NegativeInfinity));
        json.Advance(8);
        logits = new float[10];
        Assert.Equal(1, json.Mask(logits)); // only the rest of "é"
        Assert.Equal(0f, logits[9]);
        foreach (int id in new[] { 9, 5, 6 })
        {
            Assert.False(json.IsComplete);
            json.Advance(id);
        }
        Assert.True(json.IsComplete);
        logits = new float[10];
        Assert.Equal(1, json.Mask(logits)); // complete: the stop token alone
        Assert.Equal(0f, logits[0]);
        Assert.All(logits[1..], l => Assert.Equal(float.NegativeInfinity, l));
        Assert.Throws<InvalidOperationException>(() => json.Advance(7));
    }

    [Fact]
    public void A_vocabulary_that_cannot_go_on_gets_no_token_and_says_why()
    {
        // No quote and no closing brace: after the opening one only whitespace goes on, and only up to its cap.
        TokenTrie trie = Tiny("", "{", " ");
        var json = new JsonObjectConstraint(new JsonVocabulary(trie, new HashSet<int> { 0 }));
        float[] logits = new float[3];
        Assert.Equal(1, json.Mask(logits)); // the reply starts with the brace
        json.Advance(1);
        for (int i = 0; i < JsonPrefix.MaxOtherWhitespace; i++)
        {
            logits = new float[3];
            Assert.Equal(1, json.Mask(logits));
            json.Advance(2);
        }
        logits = [5, 6, 7];
        Assert.Equal(0, json.Mask(logits));
        Assert.Equal([5f, 6f, 7f], logits); // left as they were
        Assert.Contains($"after {1 + JsonPrefix.MaxOtherWhitespace} bytes", json.DeadEnd(), StringComparison.Ordinal);
        Assert.Contains("whitespace", json.DeadEnd(), StringComparison.Ordinal);
        // Complete, and no stop token to end with.
        var complete = new JsonObjectConstraint(new JsonVocabulary(Tiny("{}"), new HashSet<int>()));
        complete.Advance(0);
        Assert.Equal(0, complete.Mask(new float[1]));
        Assert.Contains("complete", complete.DeadEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void Tokens_with_the_same_bytes_are_all_allowed_and_a_prefix_token_sits_above_its_extensions()
    {
        TokenTrie trie = Tiny("{", "{", "{\"", "{\"a", "x", "{\"a\"");
        Assert.Equal(1 + "{\"a\"".Length + 1, trie.NodeCount); // the root, the path to {"a", and "x"
        var allowed = new int[trie.TokenCount];
        int n = trie.Allowed(new JsonPrefix(), allowed);
        Assert.Equal([0, 1, 2, 3, 5], allowed[..n].Order());
    }
}
