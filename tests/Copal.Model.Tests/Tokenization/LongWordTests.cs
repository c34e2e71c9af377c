using System.Text;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// Byte-level BPE of a word far longer than any token (a run of letters with no space: a CJK paragraph, a minified
/// blob): the ids are the ones the BPE merge gives, and the work grows with the length, not its square, so a
/// megabyte-long word is tokenized, not a request that holds a core for hours.
/// </summary>
public class LongWordTests
{
    private static readonly string[] s_letters = ["日", "本", "語", "a", "b", "Z", "é", "ß", "Ж", "ا", "\U00020000", "ラ"];

    /// <summary>Every byte-level tokenizer of the shared data.</summary>
    public static TheoryData<string> ByteLevelTokenizers() => new() { "gpt2", "llama3", "qwen3" };

    /// <summary>
    /// Words past the cache's length, one piece each for the split regex (letters only), give the ids the package's
    /// BPE merge gives them: the merge that long words take is the same merge.
    /// </summary>
    [Theory]
    [MemberData(nameof(ByteLevelTokenizers))]
    public void A_long_word_gives_the_ids_of_the_bpe_merge(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        var rng = new Random(2024);
        for (int i = 0; i < 12; i++)
        {
            var sb = new StringBuilder();
            int parts = rng.Next(150, 900);
            for (int p = 0; p < parts; p++)
            {
                sb.Append(s_letters[rng.Next(rng.Next(1, s_letters.Length + 1))]);
            }
            string word = sb.ToString();
            Assert.Single(t.PreTokenizer!.PreTokenize(word));
            int[] expected = [.. t.Model.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false)];
            Assert.Equal(expected, t.Encode(word, addSpecialTokens: false));
        }
    }

    /// <summary>
    /// A megabyte of one CJK character is one word to the split regex. The merge that costs the square of a word's
    /// length took hours on it (64,000 characters: 8 to 12 s, 4× the 16,000's cost 10 to 20×); now it is a
    /// fraction of a second, and the text comes back whole.
    /// </summary>
    [Theory]
    [MemberData(nameof(ByteLevelTokenizers))]
    public void A_megabyte_word_is_tokenized(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string word = new('日', 350_000); // 1,050,000 UTF-8 bytes
        int[] ids = t.Encode(word, addSpecialTokens: false);
        Assert.Equal(word, t.Decode(ids));
        // The merge of a run of one character repeats with a short period: a few distinct ids.
        Assert.InRange(ids.Distinct().Count(), 1, 4);
    }

    /// <summary>
    /// Through the Tokenizer API, with offsets: a long word's tokens are the package's, each with the package's span
    /// (a token that holds part of a character spans the character). Letters of the Basic Multilingual Plane, whose
    /// spans the package gives as they are.
    /// </summary>
    [Theory]
    [MemberData(nameof(ByteLevelTokenizers))]
    public void A_long_words_tokens_and_offsets_are_the_bpe_merges(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        var rng = new Random(77);
        string[] bmp = [.. s_letters.Where(l => l.Length == 1)];
        for (int i = 0; i < 8; i++)
        {
            string word = string.Concat(Enumerable.Range(0, rng.Next(300, 800)).Select(_ => bmp[rng.Next(bmp.Length)]));
            var expected = t.Model.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false)
                .Select(x => (x.Id, x.Value, x.Offset.Start.Value, x.Offset.End.Value)).ToList();
            var actual = t.EncodeToTokens(word, out _).Select(x => (x.Id, x.Value, x.Offset.Start.Value, x.Offset.End.Value)).ToList();
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>The Tokenizer API's tokens of a megabyte word (one piece to the split regex) come in time, each with a span in the text.</summary>
    [Fact]
    public void A_megabyte_words_tokens_have_spans()
    {
        CopalTokenizer t = Tokenizers.Get("qwen3");
        string word = string.Concat(Enumerable.Repeat("日本ラ", 120_000));
        var tokens = t.EncodeToTokens(word, out _);
        Assert.Equal(t.Encode(word, addSpecialTokens: false), tokens.Select(x => x.Id));
        Assert.All(tokens, x => Assert.InRange(x.Offset.End.Value, x.Offset.Start.Value + 1, word.Length));
        Assert.Equal(word.Length, tokens[^1].Offset.End.Value);
    }
}
