using System.Text;
using Copal.Model.Tokenization;
using Copal.Model.Tokenization.Models;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>Lossless round trips, streaming decode, and real special-token text in evaluation data.</summary>
public class RoundTripTests
{
    private static readonly string[] s_alphabet =
    [
        "a", "b", "Z", "q", "the", " ", "  ", "   ", "\t", "\n", "\r\n", "0", "7", "42", "12345", ".", ",", "'s", "'", "\"", "-",
        "日", "本", "語", "\U00020000", "\U0002A6D6", "😀", "👍🏽", "🍕", "\u0301", "\u0308", "é", "ß", "Ж", "ا", "\u200b", "\u00a0", "@-@",
    ];

    internal static string RandomText(Random rng, int parts)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < parts; i++)
        {
            sb.Append(s_alphabet[rng.Next(s_alphabet.Length)]);
        }
        return sb.ToString();
    }

    [Theory]
    [MemberData(nameof(AllTokenizers))]
    public void Decode_of_encode_is_the_text(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        var rng = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            string text = RandomText(rng, rng.Next(0, 40));
            // Qwen's NFC normalizer composes e + U+0301, so its round trip gives the NFC form.
            string expected = name == "qwen3"
                ? Copal.Model.Tokenization.Normalizers.UnicodeNormalization.Normalize(text, NormalizationForm.FormC)
                : text;
            Assert.Equal(expected, t.Decode(t.Encode(text)));
        }
    }

    /// <summary>
    /// A text's tokens' bytes, one after another, are the text's bytes (after the normalizer), with SentencePiece's
    /// prepended space, which a decode strips: on the golden texts and random ones mixing scripts, emoji and spaces, so
    /// byte-fallback and byte-level tokens that hold part of a character are among them.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllTokenizers))]
    public void The_bytes_of_a_texts_tokens_are_the_texts(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        foreach (string text in StreamTexts(name, seed: 77, count: 300, minParts: 0, maxParts: 40))
        {
            int[] ids = t.Encode(text, addSpecialTokens: false);
            byte[] joined = [.. ids.SelectMany(t.TokenBytes)];
            byte[] decoded = Encoding.UTF8.GetBytes(t.Decode(ids, skipSpecialTokens: false));
            Assert.True(joined.AsSpan().SequenceEqual(decoded) || joined.AsSpan().SequenceEqual([(byte)' ', .. decoded]),
                $"{name}: '{text}' gives '{Encoding.UTF8.GetString(joined)}' from its tokens' bytes, decoded '{Encoding.UTF8.GetString(decoded)}'");
        }
    }

    /// <summary>Every tokenizer of the shared data: byte-level BPE, SentencePiece, a 512-token vocabulary.</summary>
    public static TheoryData<string> AllTokenizers() => new() { "gpt2", "llama3", "qwen3", "llama2", "mistral", "stories260K" };

    /// <summary>The tokenizers the streaming tests run: byte-level BPE and SentencePiece, a 512-token vocabulary among them.</summary>
    public static TheoryData<string> StreamingTokenizers() => new() { "gpt2", "llama3", "qwen3", "llama2", "stories260K" };

    /// <summary>The golden texts of tokenizer <paramref name="name"/>, then <paramref name="count"/> random ones of <paramref name="minParts"/> to <paramref name="maxParts"/> parts.</summary>
    private static IEnumerable<string> StreamTexts(string name, int seed, int count, int minParts, int maxParts)
    {
        var rng = new Random(seed);
        return GoldenCase.Load(GoldenCase.SharedPath(name)).Select(c => c.Text)
            .Concat(Enumerable.Range(0, count).Select(_ => RandomText(rng, rng.Next(minParts, maxParts))));
    }

    [Theory]
    [MemberData(nameof(StreamingTokenizers))]
    public void Streamed_pieces_concatenate_to_the_full_decode(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        IEnumerable<string> texts = StreamTexts(name, seed: 99, count: 100, minParts: 1, maxParts: 30);
        foreach (bool skip in new[] { true, false })
        {
            foreach (string text in texts)
            {
                int[] ids = t.Encode(text);
                TokenDecoderStream stream = t.CreateDecoderStream(skip);
                var sb = new StringBuilder();
                foreach (int id in ids)
                {
                    string piece = stream.Push(id);
                    Assert.False(piece.Contains('\uFFFD', StringComparison.Ordinal) && !t.Decode(ids, skip).Contains('\uFFFD', StringComparison.Ordinal));
                    sb.Append(piece);
                }
                sb.Append(stream.Flush());
                Assert.Equal(t.Decode(ids, skip), sb.ToString());
            }
        }
    }

    /// <summary>
    /// What a sampler picks, not what an encoder gives: random ids, two in three among the tokens that hold part of a
    /// character (byte-level pieces of emoji and CJK, byte-fallback tokens), so characters split across tokens in
    /// every way, and fragments that never complete. Whenever the whole sequence decodes without U+FFFD, no piece
    /// holds one and the pieces are the full decode; a stream primed with a prompt gives what follows the prompt's text.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllTokenizers))]
    public void Streamed_random_ids_concatenate_to_the_full_decode(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        var partial = new List<int>();
        for (int id = 0; id < t.VocabSize; id++)
        {
            if (!t.HasToken(id))
            {
                continue;
            }
            try
            {
                strict.GetString(t.TokenBytes(id));
            }
            catch (DecoderFallbackException)
            {
                partial.Add(id);
            }
        }
        Assert.NotEmpty(partial);
        var rng = new Random(31);
        int Pick()
        {
            int id;
            do
            {
                id = rng.Next(3) == 0 ? rng.Next(t.VocabSize) : partial[rng.Next(partial.Count)];
            }
            while (!t.HasToken(id));
            return id;
        }
        int clean = 0;
        for (int s = 0; s < 3000; s++)
        {
            int[] prompt = s % 2 == 0 ? [] : t.Encode(RandomText(rng, rng.Next(1, 6)));
            int[] ids = [.. Enumerable.Range(0, rng.Next(1, 10)).Select(_ => Pick())];
            foreach (bool skip in new[] { true, false })
            {
                string shown = t.Decode(prompt, skip);
                string full = t.Decode([.. prompt, .. ids], skip);
                if (full.Contains('\uFFFD', StringComparison.Ordinal) || !full.StartsWith(shown, StringComparison.Ordinal))
                {
                    continue;
                }
                clean++;
                TokenDecoderStream stream = t.CreateDecoderStream(skip);
                stream.Prime(prompt);
                string[] pieces = [.. ids.Select(stream.Push), stream.Flush()];
                Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD', StringComparison.Ordinal));
                Assert.Equal(full[shown.Length..], string.Concat(pieces));
            }
        }
        Assert.True(clean > 300, $"{clean} clean sequences");
    }

    /// <summary>
    /// A stream primed with a prompt (a completion's) gives what follows the prompt's text in the full decode, word
    /// spaces included, though it keeps only the prompt's last few ids: split points all along golden and random
    /// texts, skipping the few where the prompt's own decode is not a prefix of the full one (a character cut in two).
    /// </summary>
    [Theory]
    [MemberData(nameof(StreamingTokenizers))]
    public void A_primed_stream_gives_what_follows_the_prompt(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        int checkedSplits = 0;
        foreach (string text in StreamTexts(name, seed: 7, count: 50, minParts: 10, maxParts: 60))
        {
            int[] ids = t.Encode(text);
            string full = t.Decode(ids);
            for (int k = 1; k < ids.Length; k += 1 + (ids.Length / 12))
            {
                string shown = t.Decode(ids.AsSpan(0, k));
                if (!full.StartsWith(shown, StringComparison.Ordinal))
                {
                    continue;
                }
                TokenDecoderStream stream = t.CreateDecoderStream();
                stream.Prime(ids.AsSpan(0, k));
                string streamed = string.Concat(ids.Skip(k).Select(stream.Push)) + stream.Flush();
                Assert.Equal(full[shown.Length..], streamed);
                checkedSplits++;
            }
        }
        Assert.True(checkedSplits > 100, $"{checkedSplits} split points checked");
    }

    [Theory]
    [InlineData("stories260K")]
    [InlineData("llama2")]
    public void A_stray_byte_that_rewrites_emitted_text_does_not_stop_the_stream(string name)
    {
        // Sampling can put a lone lead byte after a byte token: the full decode then turns the ';' already sent into
        // U+FFFD. The stream goes on, and the word after it still arrives whole.
        CopalTokenizer t = Tokenizers.Get(name);
        int[] ids = [t.TokenToId("<0x3B>")!.Value, t.TokenToId("<0xE2>")!.Value, .. t.Encode("the")];
        Assert.Equal("\uFFFD\uFFFD the", t.Decode(ids));
        TokenDecoderStream stream = t.CreateDecoderStream();
        string[] pieces = [.. ids.Select(stream.Push), stream.Flush()];
        Assert.Equal(";", pieces[0]);
        Assert.Equal(";\uFFFD the", string.Concat(pieces));
    }

    /// <summary>
    /// A character the generation never completed (it stopped after a lead byte) is held back by Push and given by
    /// Flush, as U+FFFD, as the full decode has it: the end of the text is not lost.
    /// </summary>
    [Theory]
    [InlineData("stories260K")]
    [InlineData("llama2")]
    public void Flush_gives_the_incomplete_character_push_held_back(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        int[] ids = [.. t.Encode("the", addSpecialTokens: false), t.TokenToId("<0xE2>")!.Value];
        TokenDecoderStream stream = t.CreateDecoderStream();
        string[] pushed = [.. ids.Select(stream.Push)];
        Assert.Equal("", pushed[^1]);
        Assert.Equal("\uFFFD", stream.Flush());
        Assert.Equal(t.Decode(ids), string.Concat(pushed) + "\uFFFD");
    }

    [Theory]
    [InlineData("stories260K")]
    [InlineData("llama2")]
    public void Unk_text_in_ptb_lines_is_the_unk_token(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string line = File.ReadLines(TestData.Path("text", "ptb", "ptb.test.txt")).First(l => l.Contains("<unk>", StringComparison.Ordinal));
        int[] ids = t.Encode(line);
        Assert.Equal(line.Split("<unk>").Length - 1, ids.Count(id => id == 0));
        Assert.Equal(0, t.UnkId);
        Assert.Contains("<unk>", t.Decode(ids, skipSpecialTokens: false), StringComparison.Ordinal);
        Assert.DoesNotContain("<unk>", t.Decode(ids, skipSpecialTokens: true), StringComparison.Ordinal);
    }

    [Fact]
    public void Special_ids_and_vocab_sizes_of_the_real_files()
    {
        Assert.Equal((32000, 1, 2, 0), Info("llama2"));
        Assert.Equal((512, 1, 2, 0), Info("stories260K"));
        Assert.Equal((128256, 128000, 128001, null), Info("llama3"));
        Assert.Equal((50257, 50256, 50256, 50256), Info("gpt2"));
        Assert.Equal(151645, Tokenizers.Get("qwen3").EosId);
        Assert.Null(Tokenizers.Get("qwen3").BosId);
        Assert.Equal(151669, Tokenizers.Get("qwen3").VocabSize);

        static (int, int?, int?, int?) Info(string n)
        {
            CopalTokenizer t = Tokenizers.Get(n);
            return (t.VocabSize, t.BosId, t.EosId, t.UnkId);
        }
    }

    [Fact]
    public void Llama2_cuts_words_at_metaspace_and_matches_whole_input_merging()
    {
        CopalTokenizer t = Tokenizers.Get("llama2");
        var model = Assert.IsType<SentencePieceStage>(t.Stage).Bpe;
        Assert.True(model.SplitsAtMetaspace);
        // The shortcut must equal HF's one-word merge over the whole normalized input.
        string text = File.ReadAllText(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"))[..20000];
        int[] fast = t.Encode(text, addSpecialTokens: false);
        int[] whole = model.MergeWord("\u2581" + text.Replace(" ", "\u2581", StringComparison.Ordinal));
        Assert.Equal(whole, fast);
    }
}
