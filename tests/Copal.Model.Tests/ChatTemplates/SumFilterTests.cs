using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>sum(attribute=None, start=0)</c>: Python's <c>sum()</c> of what the value iterates (of each item's
/// attribute, if given) from <c>start</c>; integers exactly, floats added left to right, a list or tuple start
/// concatenating. The renderer refused the filter. Every expected text is what Jinja2 3.1.6 renders from the same
/// template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class SumFilterTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: 6|3.5|3|0|13|3.5|3|0|0|0|0.30000000000000004|2
    [InlineData("{{ [1,2,3]|sum }}|{{ [1,2.5]|sum }}|{{ [true,true,1]|sum }}|{{ []|sum }}|{{ [1,2]|sum(start=10) }}|{{ [1,2]|sum(start=0.5) }}|{{ (1,2)|sum }}|{{ x|sum }}|{{ ''|sum }}|{{ {}|sum }}|{{ [0.1,0.2]|sum }}|{{ [1]|sum(start=true) }}",
        "6|3.5|3|0|13|3.5|3|0|0|0|0.30000000000000004|2")]
    // Python: 3.5|5|6|4|[1, 2, 3]|6|0
    [InlineData("{{ [{'n':1},{'n':2.5}]|sum(attribute='n') }}|{{ [{'a':{'b':2}},{'a':{'b':3}}]|sum(attribute='a.b') }}|{{ [[1,2],[3,4]]|sum(attribute=1) }}|{{ [[1,2],[3,4]]|sum(attribute='0') }}|{{ [[1],[2,3]]|sum(start=[]) }}|{{ [{'n':1}]|sum('n', 5) }}|{{ messages|sum(attribute='x') }}",
        "3.5|5|6|4|[1, 2, 3]|6|0")]
    // Python: True|1|3.5|[]|[0, 1]|(0, 1, 1, 2, 3, 4)|0.0|-0.0|9007199254740991
    [InlineData("{{ []|sum(start=true) }}|{{ [true]|sum(start=false) }}|{{ [2, 0.5, 1]|sum }}|{{ []|sum(start=[]) }}|{{ [[1]]|sum(start=[0]) }}|{{ [(1,2),(3,4)]|sum(start=(0,1)) }}|{{ [-0.0]|sum }}|{{ [-0.0]|sum(start=-0.0) }}|{{ [9007199254740991, 2, -2]|sum }}",
        "True|1|3.5|[]|[0, 1]|(0, 1, 1, 2, 3, 4)|0.0|-0.0|9007199254740991")]
    public void Sum_is_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python raises TypeError for each but the undefined attribute (UndefinedError) and the last, which it writes.
    [InlineData("{{ ['a','b']|sum }}", "sum of a string")]
    [InlineData("{{ ['a','b']|sum(start='') }}", "sum of a string")]
    [InlineData("{{ 'ab'|sum }}", "sum of a string")]
    [InlineData("{{ [1,none]|sum }}", "sum of a none")]
    [InlineData("{{ [[1],2]|sum(start=[]) }}", "sum of an integer")]
    [InlineData("{{ [{'n':1},{}]|sum(attribute='n') }}", "sum of an undefined")]
    [InlineData("{{ 5|sum }}", "filter 'sum' is not supported on an integer")]
    [InlineData("{{ [1,2]|sum(foo=1) }}", "sum takes no argument 'foo' (it takes attribute, start)")]
    [InlineData("{{ [9007199254740991, 1]|sum }}", "beyond ±(2^53 - 1)")]
    public void What_python_refuses_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
