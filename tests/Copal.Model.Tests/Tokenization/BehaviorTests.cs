using System.Text.Json.Nodes;
using Copal.Model.Tokenization;
using Copal.Model.Tokenization.PreTokenizers;

namespace Copal.Model.Tests.Tokenization;

/// <summary>Component behaviors not covered by the real files: Metaspace, added-token options, split behaviors.</summary>
public class BehaviorTests
{
    [Fact]
    public void Metaspace_first_prepends_only_at_the_start_of_the_input()
    {
        CopalTokenizer t = TinyTokenizerJson.Load(TinyTokenizerJson.Spm());
        Assert.Equal([6, 8], t.Encode("abc"));          // "a b" (rank 0), then "ab c" (rank 1) before "▁ ab" (rank 2)
        Assert.Equal([1, 8], t.Encode("<s>abc"));       // after an added token: not at the input start, no ▁
        Assert.Equal("abc", t.Decode(t.Encode("abc")));
    }

    [Fact]
    public void Fuse_unk_merges_consecutive_unknown_chars()
    {
        CopalTokenizer t = TinyTokenizerJson.Load(TinyTokenizerJson.Spm());
        Assert.Equal([6, 0, 3], t.Encode("xyza"));
        Assert.Equal(0, t.UnkId);
    }

    [Fact]
    public void Added_token_lstrip_rstrip_and_single_word()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["prepend_scheme"] = "never";
        j["decoder"]!["prepend_scheme"] = "never";
        var added = (JsonArray)j["added_tokens"]!;
        added.Add(TinyTokenizerJson.Added(10, "[M]", special: true, lstrip: true, rstrip: true));
        added.Add(TinyTokenizerJson.Added(11, "ab", special: false, singleWord: true));
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        // Spaces around [M] are absorbed by it; "ab" alone is the added token, inside "abc" it is not.
        Assert.Equal([3, 10, 4], t.Encode("a  [M]  b"));
        Assert.Equal([11], t.Encode("ab"));
        Assert.Equal([8], t.Encode("abc"));
        Assert.True(t.IsSpecial(10));
        Assert.False(t.IsSpecial(11));
        Assert.Equal("a b", t.Decode([3, 10, 6, 4]));
        Assert.Equal("a[M] b", t.Decode([3, 10, 6, 4], skipSpecialTokens: false));
    }

    [Fact]
    public void Added_tokens_match_longest_first()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        var added = (JsonArray)j["added_tokens"]!;
        added.Add(TinyTokenizerJson.Added(10, "<s><s>", special: true));
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        Assert.Equal([10, 1], t.Encode("<s><s><s>"));
    }

    [Fact]
    public void Split_isolated_keeps_matches_and_gaps_as_words()
    {
        var split = new RegexSplitPreTokenizer(new CodePointRegex(@"\p{L}+", "test"));
        const string text = "ab, cd!";
        Assert.Equal(["ab", ", ", "cd", "!"], split.PreTokenize(text).Select(w => text.Substring(w.Offset, w.Length)));
    }

    [Fact]
    public void Astral_letters_and_digits_match_unicode_classes_as_one_code_point()
    {
        var regex = new CodePointRegex(@"\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+|\s+", "test");
        var spans = new List<(int Start, int Length)>();
        // U+1D400 (letter), U+20000 (CJK ext B letter), U+1D7CE (digit), U+1F600 (symbol).
        string text = "a\U0001D400\U00020000b \U0001D7CE7\U0001F600!";
        regex.Matches(text, spans);
        Assert.Equal(["a\U0001D400\U00020000b", " ", "\U0001D7CE7", "\U0001F600!"], spans.Select(s => text.Substring(s.Start, s.Length)));
    }

    [Fact]
    public void Case_insensitive_contractions_fold_long_s_like_hf()
    {
        var regex = new CodePointRegex(@"(?i:'s|'t)|\p{L}+", "test");
        var spans = new List<(int Start, int Length)>();
        regex.Matches("'\u017Fa'Tb", spans);
        Assert.Equal([(0, 2), (2, 1), (3, 2), (5, 1)], spans);
    }

    [Fact]
    public void Template_from_config_flags_does_not_double_bos_and_adds_eos_when_asked()
    {
        using TinyTokenizerJson.TempPath folder = TinyTokenizerJson.Folder();
        string dir = folder.Path;
        File.Copy(Path.Combine(Tokenizers.Folder("stories260K"), "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": true, \"add_eos_token\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
        CopalTokenizer t = CopalTokenizer.FromDirectory(dir);
        int[] ids = t.Encode("Hello");
        Assert.Equal(1, ids[0]);
        Assert.NotEqual(1, ids[1]);
        Assert.Equal(2, ids[^1]);
        Assert.Equal(Tokenizers.Get("stories260K").Encode("Hello").Append(2), ids);
    }
}
