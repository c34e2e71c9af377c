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
        // Only the text's first space is the one the pre-tokenizer added: a later word keeps its own.
        Assert.Equal("ab ab", t.Decode([9, 9]));
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
        // A word character before it counts as much as one after it: "ab" ending "cab" is not the added token.
        Assert.Equal([5, 7], t.Encode("cab"));
        Assert.True(t.IsSpecial(10));
        Assert.False(t.IsSpecial(11));
        Assert.Equal("a b", t.Decode([3, 10, 6, 4]));
        Assert.Equal("a[M] b", t.Decode([3, 10, 6, 4], skipSpecialTokens: false));
    }

    /// <summary>
    /// Whitespace between two stripping added tokens goes to the first (its rstrip took it): the second's lstrip does
    /// not claim it again, so the tokens' offsets do not overlap.
    /// </summary>
    [Fact]
    public void Whitespace_an_rstrip_token_took_is_not_claimed_again_by_the_next_tokens_lstrip()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["prepend_scheme"] = "never";
        ((JsonArray)j["added_tokens"]!).Add(TinyTokenizerJson.Added(10, "[M]", special: true, lstrip: true, rstrip: true));
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        IReadOnlyList<Microsoft.ML.Tokenizers.EncodedToken> tokens = t.EncodeToTokens("a [M] [M] b", out _);
        Assert.Equal([3, 10, 10, 4], tokens.Select(x => x.Id));
        Assert.Equal([(0, 1), (1, 6), (6, 10), (10, 11)], tokens.Select(x => (x.Offset.Start.Value, x.Offset.End.Value)));
    }

    /// <summary>A normalized added token is looked for in the normalized text as its content normalizes, as HF's.</summary>
    [Fact]
    public void A_normalized_added_token_matches_its_normalized_content()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["prepend_scheme"] = "never";
        j["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "\u2581" };
        ((JsonArray)j["added_tokens"]!).Add(TinyTokenizerJson.Added(11, "c c", special: false, normalized: true));
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        Assert.Equal([11], t.Encode("c c"));
        Assert.Equal([3, 6, 11], t.Encode("a c c"));
    }

    /// <summary>
    /// Metaspace with split on cuts the text into words at each "▁", so a merge across a word boundary the vocab has
    /// ("▁ab▁ab") never applies; with split off the whole piece is one word and it does.
    /// </summary>
    [Theory]
    [InlineData(true, new[] { 9, 9 })]
    [InlineData(false, new[] { 10 })]
    public void Metaspace_split_keeps_merges_inside_words(bool split, int[] expected)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["split"] = split;
        j["model"]!["vocab"]!["\u2581ab\u2581ab"] = 10;
        ((JsonArray)j["model"]!["merges"]!).Add("\u2581ab \u2581ab");
        Assert.Equal(expected, TinyTokenizerJson.Load(j).Encode("ab ab"));
    }

    /// <summary>A Sequence normalizer runs its normalizers in the file's order: "a" → "b" → "c", not "a" → "b".</summary>
    [Fact]
    public void A_sequence_normalizer_runs_in_order()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["prepend_scheme"] = "never";
        static JsonObject Replace(string from, string to) =>
            new() { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = from }, ["content"] = to };
        j["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = new JsonArray(Replace("a", "b"), Replace("b", "c")) };
        Assert.Equal([5], TinyTokenizerJson.Load(j).Encode("a"));
    }

    /// <summary>NFKC folds compatibility characters (fullwidth "ａｂ" is "ab"), which NFC keeps.</summary>
    [Theory]
    [InlineData("NFKC", new[] { 7 })]
    [InlineData("NFC", new[] { 0 })]
    public void Nfkc_folds_compatibility_characters_and_nfc_keeps_them(string form, int[] expected)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"]!["prepend_scheme"] = "never";
        j["normalizer"] = new JsonObject { ["type"] = form };
        Assert.Equal(expected, TinyTokenizerJson.Load(j).Encode("\uFF41\uFF42"));
    }

    private static JsonObject Template(string before, string after) => new()
    {
        ["type"] = "TemplateProcessing",
        ["single"] = new JsonArray(
            new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = before, ["type_id"] = 0 } },
            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
            new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = after, ["type_id"] = 0 } }),
        ["pair"] = new JsonArray(),
        ["special_tokens"] = new JsonObject
        {
            [before] = new JsonObject { ["id"] = before, ["ids"] = new JsonArray(before == "<s>" ? 1 : 0), ["tokens"] = new JsonArray(before) },
            [after] = new JsonObject { ["id"] = after, ["ids"] = new JsonArray(after == "</s>" ? 2 : 0), ["tokens"] = new JsonArray(after) },
        },
    };

    /// <summary>
    /// A template's special tokens after $A follow the text; in a Sequence each processor wraps what the ones before
    /// it made, as HF applies them one after another.
    /// </summary>
    [Fact]
    public void Template_tokens_after_the_sequence_follow_it_and_a_sequence_of_templates_nests_in_order()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["post_processor"] = Template("<s>", "</s>");
        Assert.Equal([1, 6, 8, 2], TinyTokenizerJson.Load(j).Encode("abc"));
        j = TinyTokenizerJson.Spm();
        j["post_processor"] = new JsonObject { ["type"] = "Sequence", ["processors"] = new JsonArray(Template("<s>", "</s>"), Template("<unk>", "<unk>")) };
        Assert.Equal([0, 1, 6, 8, 2, 0], TinyTokenizerJson.Load(j).Encode("abc"));
    }

    /// <summary>
    /// MinTokenCount is a lower bound even where NFKC shortens the text most: fullwidth "ａ" is 3 bytes and normalizes to
    /// the 1 byte "a", and here 800 of them are 100 tokens of the longest token, 8 bytes.
    /// </summary>
    [Fact]
    public void Min_token_count_stays_below_the_count_when_nfkc_shortens_the_text_threefold()
    {
        var j = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(), ["normalizer"] = new JsonObject { ["type"] = "NFKC" },
            ["pre_tokenizer"] = null, ["post_processor"] = null, ["decoder"] = null,
            ["model"] = new JsonObject
            {
                // fuse_unk false: each unknown character its own unk, so the model keeps the bound and NFKC is tested.
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "u", ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = new JsonObject { ["u"] = 0, ["a"] = 1, ["aa"] = 2, ["aaaa"] = 3, ["aaaaaaaa"] = 4 },
                ["merges"] = new JsonArray("a a", "aa aa", "aaaa aaaa"),
            },
        };
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        string text = new('\uFF41', 800);
        Assert.Equal(100, t.Encode(text).Length);
        Assert.InRange(t.MinTokenCount(text), 1, 100);
    }

    /// <summary>
    /// A Replace normalizer that deletes text (here zero-width spaces) leaves no bound by the text's bytes: 1000 of
    /// them encode to almost nothing, and a bound of 150 refused such a prompt as past a context it fits in.
    /// </summary>
    [Fact]
    public void Min_token_count_is_no_bound_where_a_replace_normalizer_deletes_text()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["fuse_unk"] = false; // each unknown character its own unk: the model alone keeps the bound
        j["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "\u200b" }, ["content"] = "" };
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        string text = new('\u200b', 1000);
        Assert.InRange(t.MinTokenCount(text), 0, t.Encode(text).Length);
        Assert.InRange(t.MinTokenCount(text + "abc"), 0, t.Encode(text + "abc").Length);
    }

    /// <summary>
    /// A model without byte fallback fuses a run of unknown characters into one unk token (fuse_unk) or, with no unk
    /// token, drops them: 1000 snowmen (3,000 bytes) encode to two tokens, and a bound by the bytes (150 here) refused
    /// such a prompt as past a context it fits in. A model whose byte fallback catches every character keeps the bound.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Min_token_count_is_no_bound_where_the_model_fuses_or_drops_unknown_characters(bool hasUnk)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        if (!hasUnk)
        {
            j["model"]!["unk_token"] = null;
        }
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        string text = new('\u2603', 1000);
        Assert.InRange(t.Encode(text).Length, 1, 2);
        Assert.InRange(t.MinTokenCount(text), 0, t.Encode(text).Length);
        Assert.InRange(t.MinTokenCount(text + "abc"), 0, t.Encode(text + "abc").Length);
    }

    [Fact]
    public void Min_token_count_keeps_its_bound_where_byte_fallback_spells_every_unknown_character()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["byte_fallback"] = true;
        var vocab = j["model"]!["vocab"]!.AsObject();
        for (int b = 0; b < 256; b++)
        {
            vocab.Add($"<0x{b:X2}>", 10 + b);
        }
        CopalTokenizer t = TinyTokenizerJson.Load(j);
        string text = new('\u2603', 1000);
        Assert.Equal(3001, t.Encode(text).Length);
        Assert.InRange(t.MinTokenCount(text), 1, 3001);
    }

    /// <summary>
    /// A token with a character outside the byte-level alphabet (an added token "a你") is its own UTF-8, whole: the
    /// bytes of the characters before it that did map are not kept twice.
    /// </summary>
    [Fact]
    public void A_byte_level_token_outside_the_alphabet_decodes_as_its_own_text_once()
    {
        var decoder = new Copal.Model.Tokenization.Decoders.ByteLevelDecoder();
        Assert.Equal(" xa你", string.Concat(decoder.DecodeChain(["Ġx", "a你"])));
        Assert.Equal(System.Text.Encoding.UTF8.GetBytes("a你"), decoder.Bytes("a你"));
    }

    /// <summary>
    /// Byte fallback reads exactly "&lt;0xNN&gt;", six characters, as HF's decoder does: a vocabulary entry that only
    /// starts like one ("&lt;0x41&gt;x") is text, not the byte 0x41 with the rest dropped.
    /// </summary>
    [Fact]
    public void Only_six_character_byte_tokens_fall_back_to_bytes()
    {
        var decoder = new Copal.Model.Tokenization.Decoders.ByteFallbackDecoder();
        Assert.Equal("A<0x41>x<0x4>", string.Concat(decoder.DecodeChain(["<0x41>", "<0x41>x", "<0x4>"])));
        Assert.Equal([0x41], decoder.Bytes("<0x41>")!);
        Assert.Null(decoder.Bytes("<0x41>x"));
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

    /// <summary>
    /// add_eos_token alone rebuilds the Llama template with add_bos_token at transformers' default, true: BOS stays.
    /// </summary>
    [Fact]
    public void Add_eos_token_alone_keeps_bos_at_its_default()
    {
        using TinyTokenizerJson.TempPath folder = TinyTokenizerJson.Folder();
        string dir = folder.Path;
        File.Copy(Path.Combine(Tokenizers.Folder("stories260K"), "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_eos_token\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
        Assert.Equal(Tokenizers.Get("stories260K").Encode("Hello").Append(2), CopalTokenizer.FromDirectory(dir).Encode("Hello"));
    }
}
