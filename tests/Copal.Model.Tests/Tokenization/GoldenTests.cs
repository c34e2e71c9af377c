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
