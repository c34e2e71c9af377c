using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>Every golden case of every real tokenizer: ids, tokens, decoded and decoded_raw must be equal exactly.</summary>
public class GoldenTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (string name in Tokenizers.Names)
        {
            int n = GoldenCase.Load(GoldenCase.SharedPath(name)).Length;
            for (int i = 0; i < n; i++)
            {
                data.Add(name, i);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Shared_golden_case_is_exact(string name, int index)
    {
        AssertCase(Tokenizers.Get(name), GoldenCase.Load(GoldenCase.SharedPath(name))[index], $"{name}[{index}]");
    }

    /// <summary>
    /// MinTokenCount, by which a server refuses a prompt far past its context without encoding it, never exceeds the
    /// real count: on every golden case, and on long runs of one character, where a token covers the most text.
    /// </summary>
    [Fact]
    public void The_token_count_bound_from_length_never_exceeds_the_real_count()
    {
        foreach (string name in Tokenizers.Names)
        {
            CopalTokenizer tok = Tokenizers.Get(name);
            IEnumerable<string> texts = GoldenCase.Load(GoldenCase.SharedPath(name)).Select(c => c.Text)
                .Concat(new[] { "a", " ", "\n", "-", " the" }.Select(s => string.Concat(Enumerable.Repeat(s, 4096))));
            foreach (string text in texts)
            {
                long bound = tok.MinTokenCount(text);
                int real = tok.Encode(text, addSpecialTokens: false).Length;
                Assert.True(bound <= real, $"{name}: bound {bound} > {real} tokens for {Show(text[..Math.Min(40, text.Length)])}");
            }
            Assert.True(tok.MinTokenCount(new string('z', 1 << 20)) > 0);
        }
    }

    [Fact]
    public void Every_shared_golden_file_has_the_46_cases()
    {
        foreach (string name in Tokenizers.Names)
        {
            Assert.Equal(46, GoldenCase.Load(GoldenCase.SharedPath(name)).Length);
        }
    }

    internal static void AssertCase(CopalTokenizer tok, GoldenCase c, string what)
    {
        int[] ids = tok.Encode(c.Text);
        Assert.True(c.Ids.SequenceEqual(ids),
            $"{what} ids for {Show(c.Text)}:\n expected [{string.Join(", ", c.Ids)}]\n actual   [{string.Join(", ", ids)}]");
        Assert.Equal(c.Tokens, ids.Select(tok.IdToToken).ToArray());
        Assert.Equal(c.Decoded, tok.Decode(c.Ids, skipSpecialTokens: true));
        Assert.Equal(c.DecodedRaw, tok.Decode(c.Ids, skipSpecialTokens: false));
    }

    internal static string Show(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
