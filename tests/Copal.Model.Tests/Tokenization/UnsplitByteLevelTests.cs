using System.Text;
using System.Text.Json.Nodes;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// A byte-level tokenizer.json whose pre-tokenizer is ByteLevel with use_regex false and no Split before it hands the
/// model its whole text as one word (HF does the same). Merged whole, 10 MB of WikiText took 30 to 56 s and 560 to
/// 610 MB at its peak, with no progress and no way to cancel it. The word is now cut where no merge can join two bytes
/// (the ids cannot change), and merged a part at a time: the shared files' WikiText-2 ids are the same to the bit,
/// 10 MB takes 3 to 5 s and 260 MB, and the watch hears each part.
/// </summary>
public class UnsplitByteLevelTests
{
    public static TheoryData<string> Names() => new() { "gpt2", "llama3", "qwen3" };

    /// <summary>The shared tokenizer with its pre-tokenizer replaced by ByteLevel without the split regex.</summary>
    internal static CopalTokenizer Unsplit(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Tokenizers.Folder(name), "tokenizer.json")))!;
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false,
        };
        return TinyTokenizerJson.Load(json);
    }

    private static readonly Lazy<string> s_wiki = new(() => File.ReadAllText(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt")));

    /// <summary>WikiText-2's test text twice: 2.6 million characters, two reports before the end.</summary>
    private static string LongText() => s_wiki.Value + "\n\n" + s_wiki.Value;

    [Theory]
    [MemberData(nameof(Names))]
    public void A_whole_text_as_one_word_reports_along_the_way_and_stops_at_the_first_report_when_cancelled(string name)
    {
        CopalTokenizer tokenizer = Unsplit(name);
        string text = LongText();
        var reports = new List<TokenizeProgress>();

        int[] ids = tokenizer.Encode(text, addSpecialTokens: false, new CallbackProgress<TokenizeProgress>(reports.Add), CancellationToken.None);

        Assert.Equal(tokenizer.Encode(text, addSpecialTokens: false), ids);
        Assert.True(reports.Count >= 3, $"expected reports along the way and one at the end, got {reports.Count}");
        using var cts = new CancellationTokenSource();
        var cancelled = new List<TokenizeProgress>();
        Assert.ThrowsAny<OperationCanceledException>(() => tokenizer.Encode(text, addSpecialTokens: false, new CallbackProgress<TokenizeProgress>(r =>
        {
            cancelled.Add(r);
            cts.Cancel();
        }), cts.Token));
        Assert.Equal(reports[0], Assert.Single(cancelled));
    }

    /// <summary>
    /// The cut word's ids and tokens are those of the package's BPE merge of the whole (normalized) word, an
    /// implementation that does not cut, on texts of every script the shared tokenizers know, marks that compose,
    /// emoji, astral letters, and runs of one letter. Offsets are compared on the texts without astral code points:
    /// the package gives a token inside an astral character half its span, where the tokenizer gives it the whole
    /// character, as HF does (<see cref="LongWordTests"/>).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void The_ids_and_tokens_of_a_word_cut_into_parts_are_those_of_the_whole_word_merged(string name)
    {
        CopalTokenizer tokenizer = Unsplit(name);
        string[] pieces = ["日本語", "中文", "ラテン", "한국어", "Àé", "ß", "Жук", "ﻻا", "e\u0301", "\u0308", "😀", "\U00020000",
            " ", "  ", "\t", "\n", "\r\n", ".", ",", "!?", "'s", "\"", "0", "42", "1,000", "abc", "XYZ", "\u00a0", "日日日日", "aaaa"];
        var rng = new Random(11);
        for (int i = 0; i < 6; i++)
        {
            bool astral = i % 2 == 0;
            var sb = new StringBuilder();
            sb.Append(s_wiki.Value, rng.Next(s_wiki.Value.Length - 1000), 600);
            while (sb.Length < 1500)
            {
                string piece = pieces[rng.Next(pieces.Length)];
                if (astral || !piece.Any(char.IsSurrogate))
                {
                    sb.Append(piece);
                }
            }
            string text = tokenizer.Normalizer?.Normalize(sb.ToString()) ?? sb.ToString();

            int[] expected = [.. tokenizer.Model.EncodeToIds(text, considerPreTokenization: false, considerNormalization: false)];
            Assert.Equal(expected, tokenizer.Encode(text, addSpecialTokens: false));
            var expectedTokens = tokenizer.Model.EncodeToTokens(text, out _, considerPreTokenization: false, considerNormalization: false)
                .Select(x => (x.Id, x.Value, astral ? 0 : x.Offset.Start.Value, astral ? 0 : x.Offset.End.Value));
            var tokens = tokenizer.EncodeToTokens(text, out _)
                .Select(x => (x.Id, x.Value, astral ? 0 : x.Offset.Start.Value, astral ? 0 : x.Offset.End.Value));
            Assert.Equal(expectedTokens, tokens);
        }
    }

    /// <summary>
    /// With fuse_unk, a run of bytes the vocab lacks is one unk token, as HF's BPE fuses them (and the package's, and
    /// Copal's merge loop, merging the word whole). No merge holds such bytes, so the cut once fell between each two of
    /// them: 600 unknown bytes in a row became 600 unks where a word of up to 256 chars got one.
    /// </summary>
    /// <summary>
    /// A byte-level file without the split regex whose vocab lacks the bytes 'q' and 'r', with "ab" its one merge; unk
    /// token "&lt;unk&gt;" (or none) and fuse_unk as given.
    /// </summary>
    private static (CopalTokenizer Tokenizer, JsonObject Vocab) LackingQAndR(bool withUnk, bool fuseUnk)
    {
        var vocab = new JsonObject();
        foreach (char c in Copal.Model.Tokenization.PreTokenizers.ByteLevelAlphabet.ByteToChar)
        {
            if (c is not ('q' or 'r'))
            {
                vocab[c.ToString()] = vocab.Count;
            }
        }
        vocab["ab"] = vocab.Count;
        if (withUnk)
        {
            vocab["<unk>"] = vocab.Count;
        }
        var json = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(), ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["post_processor"] = null, ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = withUnk ? "<unk>" : null, ["fuse_unk"] = fuseUnk, ["byte_fallback"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray("a b"),
            },
        };
        return (TinyTokenizerJson.Load(json), vocab);
    }

    [Fact]
    public void A_run_of_bytes_the_vocab_lacks_is_one_unk_with_fuse_unk_however_long()
    {
        (CopalTokenizer tokenizer, JsonObject vocab) = LackingQAndR(withUnk: true, fuseUnk: true);
        int ab = vocab["ab"]!.GetValue<int>(), unk = vocab["<unk>"]!.GetValue<int>();
        string text = new string('q', 300) + "ab" + string.Concat(Enumerable.Repeat("qr", 150)) + "a";

        int[] ids = tokenizer.Encode(text, addSpecialTokens: false);

        Assert.Equal([unk, ab, unk, vocab["a"]!.GetValue<int>()], ids);
        Assert.Equal(tokenizer.Model.EncodeToIds(text, considerPreTokenization: false, considerNormalization: false), ids);
        Assert.Equal([(unk, 0, 300), (ab, 300, 302), (unk, 302, 602), (vocab["a"]!.GetValue<int>(), 602, 603)],
            tokenizer.EncodeToTokens(text, out _).Select(t => (t.Id, t.Offset.Start.Value, t.Offset.End.Value)));
    }

    /// <summary>
    /// Without an unk token, HF drops a byte the vocab lacks, and the bytes on either side of it become neighbours a
    /// merge may join: "aqb" is "ab". No merge holds 'q', so the cut once fell on both sides of it and kept a from b.
    /// </summary>
    [Fact]
    public void Bytes_on_either_side_of_a_dropped_byte_merge_however_long_the_word()
    {
        (CopalTokenizer tokenizer, JsonObject vocab) = LackingQAndR(withUnk: false, fuseUnk: false);
        int ab = vocab["ab"]!.GetValue<int>();
        string text = string.Concat(Enumerable.Repeat("aqb", 100)) + "aqqrb";

        int[] ids = tokenizer.Encode(text, addSpecialTokens: false);

        Assert.Equal(Enumerable.Repeat(ab, 101), ids);
        Assert.Equal(tokenizer.Model.EncodeToIds(text, considerPreTokenization: false, considerNormalization: false), ids);
        Assert.Equal(Enumerable.Repeat(ab, 101), tokenizer.EncodeToTokens(text, out _).Select(t => t.Id));
    }
}
