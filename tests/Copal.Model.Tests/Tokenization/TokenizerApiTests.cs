using Copal.Model.Tokenization;
using Copal.Model.Tokenization.Models;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// The six real tokenizers used only through Microsoft.ML.Tokenizers' <see cref="Tokenizer"/> base type, as another
/// .NET library would: encode, count, decode and offsets, checked against the golden files.
/// </summary>
public class TokenizerApiTests
{
    public static TheoryData<string> Names() => [.. Tokenizers.Names];

    private static Tokenizer Load(string name) => CopalTokenizer.FromDirectory(Tokenizers.Folder(name));

    [Theory]
    [MemberData(nameof(Names))]
    public void Encode_count_and_decode_through_the_base_type_match_the_goldens(string name)
    {
        Tokenizer tokenizer = Load(name);
        foreach (GoldenCase c in GoldenCase.Load(GoldenCase.SharedPath(name)))
        {
            string what = $"{name} {GoldenTests.Show(c.Text)}";
            Assert.True(c.Ids.SequenceEqual(tokenizer.EncodeToIds(c.Text)), $"{what}: ids");
            Assert.True(c.Ids.SequenceEqual(tokenizer.EncodeToIds(c.Text.AsSpan())), $"{what}: ids from a span");
            Assert.Equal(c.Ids.Length, tokenizer.CountTokens(c.Text));
            Assert.Equal(c.Tokens, tokenizer.EncodeToTokens(c.Text, out _).Select(t => t.Value).ToArray());
            Assert.Equal(c.Decoded, tokenizer.Decode(c.Ids));
            Assert.Equal(c.Decoded, tokenizer.Decode((IEnumerable<int>)c.Ids.ToList()));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Offsets_cover_the_normalized_text_in_order(string name)
    {
        Tokenizer tokenizer = Load(name);
        foreach (GoldenCase c in GoldenCase.Load(GoldenCase.SharedPath(name)))
        {
            IReadOnlyList<EncodedToken> tokens = tokenizer.EncodeToTokens(c.Text, out string? normalized);
            string text = normalized ?? c.Text;
            // Tokens of one character (byte fallback, byte-level pieces of an emoji) share its span.
            var covered = new System.Text.StringBuilder();
            int end = 0;
            foreach (EncodedToken t in tokens)
            {
                (int offset, int length) = t.Offset.GetOffsetAndLength(text.Length);
                Assert.True(offset >= end || offset + length == end, $"{name} {GoldenTests.Show(c.Text)}: token '{t.Value}' at {offset} overlaps the previous one (ends {end})");
                if (offset >= end)
                {
                    covered.Append(text, offset, length);
                    end = offset + length;
                }
            }
            Assert.Equal(text, covered.ToString());
        }
    }

    [Fact]
    public void Max_token_count_cuts_between_characters()
    {
        Tokenizer tokenizer = Load("llama2");
        const string text = "Hi 😀 there";
        // [<s>, ▁Hi, ▁, <0xF0>, <0x9F>, <0x98>, <0x80>, ▁there]: 5 tokens would cut the emoji's bytes.
        IReadOnlyList<int> all = tokenizer.EncodeToIds(text);
        Assert.Equal(8, all.Count);
        IReadOnlyList<int> cut = tokenizer.EncodeToIds(text, 5, out string? normalized, out int consumed);
        Assert.Equal(all.Take(3), cut);
        Assert.Equal("\u2581Hi\u2581", normalized![..consumed]);
        int index = tokenizer.GetIndexByTokenCount(text, 3, out _, out int count);
        Assert.Equal((4, 3), (index, count));
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gpt2")]
    public void Byte_level_files_are_served_by_the_package_bpe(string name)
    {
        var tokenizer = (CopalTokenizer)Load(name);
        Assert.True(Assert.IsType<BpeTokenizer>(tokenizer.Model).ByteLevel);
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("mistral")]
    [InlineData("stories260K")]
    public void Sentencepiece_files_keep_copals_byte_fallback_model(string name)
    {
        var tokenizer = (CopalTokenizer)Load(name);
        Assert.True(Assert.IsType<SentencePieceBpeTokenizer>(tokenizer.Model).ByteFallback);
    }
}
