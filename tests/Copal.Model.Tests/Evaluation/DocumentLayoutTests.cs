using Copal.Model.Evaluation;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// The Documents layout: each document is what stands between separators with the newlines around it trimmed,
/// tokenized on its own with BOS; a document of nothing but newlines is no document (no lone BOS).
/// </summary>
public sealed class DocumentLayoutTests
{
    private static readonly CopalTokenizer s_tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    [Fact]
    public void Documents_lose_the_newlines_around_them_and_empty_ones_are_dropped()
    {
        const string Text = "\n\nOnce upon a time.\n\n<|endoftext|>\n\n<|endoftext|>\nThe end\n\n";
        int[] expected = [.. s_tokenizer.Encode("Once upon a time."), .. s_tokenizer.Encode("The end")];
        Assert.Equal(expected, TextDataset.TokenizeText(s_tokenizer, Text, TextLayout.Documents));
        Assert.Equal(2, expected.Count(id => id == s_tokenizer.BosId));
    }
}
