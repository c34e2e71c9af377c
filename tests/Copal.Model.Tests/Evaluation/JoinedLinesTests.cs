using System.Text;
using Copal.Model.Evaluation;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// The joined-lines layout is perplexity_reference.py's <c>" ".join(line.strip() for line in text.split("\n") if
/// line.strip())</c>. Python's strip takes off every char <c>str.isspace</c> names, which are .NET's white space and
/// also the information separators U+001C to U+001F; <c>string.Trim()</c> kept those, so a line ending in one, or
/// holding only one, gave other text, and other tokens, than the reference's.
/// </summary>
public sealed class JoinedLinesTests
{
    [Fact]
    public void Lines_lose_what_python_strips_and_lines_of_only_that_are_dropped()
    {
        // Python 3.11: " ".join(l.strip() for l in s.split("\n") if l.strip())
        string text = "\u001ca b\u001f\n\u001d\u001e\n \u3000c\u0085\u2028\n\u200bd\n";

        Assert.Equal("a b c \u200bd", TextDataset.Decode(Encoding.UTF8.GetBytes(text), "x", TextLayout.JoinedLines));
    }
}
