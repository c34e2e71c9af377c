using System.Text;
using Copal.Model.Evaluation;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// A text file with Windows line ends ("\r\n": saved by Notepad, or checked out by Git for Windows with core.autocrlf)
/// is the same text to the references, whose Python text mode reads "\r\n" and a lone "\r" as "\n". Tokenized as
/// bytes, a CRLF copy of TinyStories' eval text scored perplexity 14.1 where the reference, and copal on the original,
/// score 7.5.
/// </summary>
public sealed class TextLineEndsTests
{
    private static readonly CopalTokenizer s_tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    // The first 20,000 characters of the eval text: its stories and its <|endoftext|> separator lines.
    private static string Lf() => File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt"))[..20_000];

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Theory]
    [InlineData(TextLayout.Raw)]
    [InlineData(TextLayout.JoinedLines)]
    [InlineData(TextLayout.Documents)]
    public void Windows_line_ends_tokenize_as_the_same_text(TextLayout layout)
    {
        string lf = Lf();
        Assert.DoesNotContain('\r', lf);
        int[] expected = TextDataset.TokenizeText(s_tokenizer, TextDataset.Decode(Bytes(lf), "lf", layout), layout);
        int[] crlf = TextDataset.TokenizeText(s_tokenizer, TextDataset.Decode(Bytes(lf.Replace("\n", "\r\n", StringComparison.Ordinal)), "crlf", layout), layout);
        Assert.Equal(expected, crlf);
    }

    [Fact]
    public void A_lone_carriage_return_ends_a_line_as_python_reads_it()
    {
        Assert.Equal("a\nb\n\nc\n", TextDataset.Decode(Bytes("a\r\nb\r\rc\r"), "x"));
        Assert.Equal("a\n\nb", TextDataset.Decode(Bytes("a\n\r\nb"), "x"));
        Assert.Equal("a b c", TextDataset.Decode(Bytes(" a \r\n b\r c\r\n"), "x", TextLayout.JoinedLines));
    }
}
