using System.Text.Json.Nodes;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>Bad files, unsupported components and bad input each give a TokenizerException that says what and where.</summary>
public class ErrorTests
{
    private static TokenizerException Load(JsonObject json) =>
        Assert.Throws<TokenizerException>(() => TinyTokenizerJson.Load(json));

    [Fact]
    public void Malformed_json_names_the_file_and_line()
    {
        using TinyTokenizerJson.TempPath file = TinyTokenizerJson.WriteText("{\n \"model\": {\"type\": \"BPE\",, }\n}");
        string path = file.Path;
        var e = Assert.Throws<TokenizerException>(() => CopalTokenizer.FromFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 2", e.Message);
    }

    /// <summary>An added token whose id is a vocab token of other text would give two texts one id: refused, naming both.</summary>
    [Fact]
    public void An_added_token_on_the_id_of_another_vocab_token_is_refused()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        ((JsonArray)j["added_tokens"]!).Add(TinyTokenizerJson.Added(3, "zz", special: false));
        Assert.Contains("added token 3 \"zz\" collides with vocab token \"a\" of the same id", Load(j).Message);
    }

    [Fact]
    public void Missing_vocab_is_reported()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        ((JsonObject)j["model"]!).Remove("vocab");
        Assert.Contains("$.model: missing required field 'vocab'", Load(j).Message);
    }

    [Fact]
    public void Missing_merges_is_reported()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        ((JsonObject)j["model"]!).Remove("merges");
        Assert.Contains("missing required field 'merges'", Load(j).Message);
    }

    [Fact]
    public void Merge_with_unknown_token_is_reported()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["merges"] = new JsonArray("a b", "ab zz");
        string m = Load(j).Message;
        Assert.Contains("merge 1", m);
        Assert.Contains("\"zz\"", m);
    }

    [Fact]
    public void Merge_whose_result_is_not_in_vocab_is_reported()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["merges"] = new JsonArray(new JsonArray("b", "a"));
        Assert.Contains("yields \"ba\", which is not in the vocab", Load(j).Message);
    }

    /// <summary>
    /// Ids index tables sized to the largest: an id of 2^31 − 2 among ten tokens took an array of two billion entries
    /// (an out-of-memory "bug in copal"), and an added token's 2^31 − 1 overflowed the vocabulary size to a negative
    /// number, so every id was refused as outside it.
    /// </summary>
    [Theory]
    [InlineData(16_777_216)]
    [InlineData(2_147_483_646)]
    [InlineData(int.MaxValue)]
    public void An_id_far_beyond_any_vocabulary_is_refused_naming_the_token(int id)
    {
        JsonObject inVocab = TinyTokenizerJson.Spm();
        inVocab["model"]!["vocab"]!["zzzq"] = id;
        Assert.Contains($"$.model.vocab: token \"zzzq\" has id {id}; ids must lie in 0..16777215", Load(inVocab).Message);
        JsonObject added = TinyTokenizerJson.Spm();
        ((JsonArray)added["added_tokens"]!).Add(TinyTokenizerJson.Added(id, "<zzzq>", special: true));
        Assert.Contains($"token \"<zzzq>\" has id {id}; ids must lie in 0..16777215", Load(added).Message);
    }

    [Fact]
    public void The_largest_id_allowed_loads()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        ((JsonArray)j["added_tokens"]!).Add(TinyTokenizerJson.Added(16_777_215, "<last>", special: true));
        Assert.Equal(16_777_216, TinyTokenizerJson.Load(j).VocabSize);
    }

    /// <summary>
    /// A TemplateProcessing's special ids are placed around every encoded text as they are: an id outside the
    /// tokenizer (99999 among 512 tokens, or −1) was printed by <c>copal tokenize</c> and failed only later, in
    /// <c>generate</c>, as "token id 99999 is not in this tokenizer", naming neither the file nor the field.
    /// </summary>
    [Theory]
    [InlineData(10)]
    [InlineData(99_999)]
    [InlineData(-1)]
    public void A_template_special_id_outside_the_tokenizer_is_refused_naming_the_field(int id)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["post_processor"] = new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(
                new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            ["pair"] = new JsonArray(),
            ["special_tokens"] = new JsonObject
            {
                ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1, id), ["tokens"] = new JsonArray("<s>", "<s>") },
            },
        };
        Assert.Contains($"$.post_processor.special_tokens.<s>.ids[1]: id {id} is not a token of this tokenizer (ids 0..9)", Load(j).Message);
    }

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void Unsupported_model_types_are_named(string type)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["type"] = type;
        string m = Load(j).Message;
        Assert.Contains($"model type '{type}' is not supported", m);
        Assert.Contains("BPE", m);
    }

    [Fact]
    public void Bpe_dropout_is_refused()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["model"]!["dropout"] = 0.1;
        Assert.Contains("dropout", Load(j).Message);
    }

    /// <summary>
    /// A byte-level file with no vocab at all is refused by the package's BPE, naming the file, when its first text is
    /// encoded: the stage's longest token (for ignore_merges) was once taken as the maximum of no lengths, an
    /// InvalidOperationException ("Sequence contains no elements") that named nothing, at load.
    /// </summary>
    [Fact]
    public void An_empty_byte_level_vocab_is_refused_naming_the_file()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["added_tokens"] = new JsonArray();
        j["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = true };
        j["decoder"] = new JsonObject { ["type"] = "ByteLevel" };
        j["model"]!["unk_token"] = null;
        j["model"]!["vocab"] = new JsonObject();
        j["model"]!["merges"] = new JsonArray();
        using TinyTokenizerJson.TempPath file = TinyTokenizerJson.WriteText(j.ToJsonString());
        var e = Assert.Throws<TokenizerException>(() => CopalTokenizer.FromFile(file.Path).Encode("hello", addSpecialTokens: false));
        Assert.Contains(file.Path, e.Message);
        Assert.Contains("$.model", e.Message);
        Assert.Contains("vocabulary cannot be empty", e.Message);
    }

    [Fact]
    public void Unknown_components_list_what_is_supported()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["normalizer"] = new JsonObject { ["type"] = "BertNormalizer" };
        Assert.Contains("normalizer type 'BertNormalizer' is not supported (supported: NFC", Load(j).Message);

        j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"] = new JsonObject { ["type"] = "Whitespace" };
        Assert.Contains("pre-tokenizer type 'Whitespace' is not supported (supported: ByteLevel", Load(j).Message);

        j = TinyTokenizerJson.Spm();
        j["decoder"] = new JsonObject { ["type"] = "WordPiece" };
        Assert.Contains("decoder type 'WordPiece' is not supported", Load(j).Message);

        j = TinyTokenizerJson.Spm();
        j["post_processor"] = new JsonObject { ["type"] = "BertProcessing" };
        Assert.Contains("post-processor type 'BertProcessing' is not supported", Load(j).Message);
    }

    [Theory]
    [InlineData("MergedWithPrevious", "Split behavior 'MergedWithPrevious' is not supported (supported: Isolated)")]
    [InlineData("Sideways", "Split behavior 'Sideways' is unknown (supported: Isolated)")]
    public void Unsupported_split_behaviors_are_named(string behavior, string expected)
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "\\s+" }, ["behavior"] = behavior, ["invert"] = false },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
        };
        string m = Load(j).Message;
        Assert.Contains(expected, m);
        Assert.Contains("$.pre_tokenizer.pretokenizers[0]", m);
    }

    [Fact]
    public void Unsupported_pre_tokenizer_sequences_are_named()
    {
        JsonObject j = TinyTokenizerJson.Spm();
        j["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(new JsonObject { ["type"] = "ByteLevel" }, new JsonObject { ["type"] = "Metaspace" }),
        };
        Assert.Contains("pre-tokenizer Sequence [ByteLevel, Metaspace] is not supported", Load(j).Message);
        ((JsonArray)j["pre_tokenizer"]!["pretokenizers"]!).Add(new JsonObject { ["type"] = "Digits" });
        Assert.Contains("pre-tokenizer type 'Digits' is not supported", Load(j).Message);
    }

    [Fact]
    public void Invalid_utf8_reports_the_byte_offset()
    {
        byte[] bytes = [(byte)'o', (byte)'k', 0xC3, 0xA9, (byte)' ', 0xE2, 0x82, (byte)'x'];
        var e = Assert.Throws<TokenizerException>(() => Utf8Text.DecodeStrict(bytes, "input.txt"));
        Assert.Contains("input.txt", e.Message);
        Assert.Contains("byte offset 5", e.Message);
        Assert.Equal("ok\u00e9 x", Utf8Text.DecodeStrict(bytes.AsSpan(0, 5), "input.txt") + "x");
    }

    /// <summary>Past the first thousand chars (where the search for it goes on in steps), and a sequence cut off at the end.</summary>
    [Theory]
    [InlineData(3000, new byte[] { 0xFF }, 3000)]
    [InlineData(1023, new byte[] { 0xF0, 0x9F, 0x98, 0x80, 0xC3 }, 1027)]
    [InlineData(2, new byte[] { 0xE2, 0x82 }, 2)]
    public void Invalid_utf8_far_into_the_text_or_cut_off_at_its_end_reports_its_byte_offset(int validBytes, byte[] tail, int offset)
    {
        byte[] bytes = [.. Enumerable.Repeat((byte)'a', validBytes), .. tail];
        var e = Assert.Throws<TokenizerException>(() => Utf8Text.DecodeStrict(bytes, "input.txt"));
        Assert.StartsWith($"input.txt: invalid UTF-8 at byte offset {offset} (bytes ", e.Message);
    }

    [Fact]
    public void Unknown_id_in_decode_is_reported()
    {
        CopalTokenizer t = TinyTokenizerJson.Load(TinyTokenizerJson.Spm());
        var e = Assert.Throws<TokenizerException>(() => t.Decode([3, 99]));
        Assert.Contains("99", e.Message);
    }
}
