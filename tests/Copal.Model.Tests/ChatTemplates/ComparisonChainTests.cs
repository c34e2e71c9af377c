using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Comparisons chain as in Python and Jinja2: <c>a &lt; b &lt;= c</c> is <c>(a &lt; b) and (b &lt;= c)</c>, with b
/// evaluated once and c only when the first link holds. The reference (and the renderer) compared left to right,
/// <c>(a &lt; b) &lt;= c</c>, so <c>1 &lt; 2 == true</c> was true where Python's is false; a boolean compared with a number
/// by <c>&lt;</c>, <c>&gt;</c>, <c>&lt;=</c> or <c>&gt;=</c> was refused to keep such a chain from rendering unchained, and
/// is now compared as Python compares it (its bool is an int). Every expected text is what Jinja2 3.1.6 renders from
/// the same template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class ComparisonChainTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: False|False|True|True|True|True|True|True
    [InlineData("{{ 1 < 2 == true }}|{{ 2 < 3 <= 1 }}|{{ 1 < 2 <= 3 }}|{{ 1 == 1.0 != 2 }}|{{ 'a' not in 'bc' in 'xbcx' }}|{{ 3 > 2 > 1 > 0 }}|{{ (1 < 2) < 3 }}|{{ not 1 < 2 < 0 }}",
        "False|False|True|True|True|True|True|True")]
    // Python: True|True|True|False (a link after a false one is not evaluated, so the undefined value is not compared).
    [InlineData("{{ true < 2 }}|{{ 0 < true <= 1.0 }}|{{ false >= 0 }}|{{ 1 < 0 < undefined_name }}", "True|True|True|False")]
    // Python: True (the middle operand is evaluated once: a second loop.changed(x) would be false).
    [InlineData("{% for x in [1] %}{{ 0 < loop.changed(x) == 1 }}{% endfor %}", "True")]
    public void Comparisons_chain_as_in_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: UndefinedError: 'undefined_name' is undefined
    [InlineData("{{ 1 < undefined_name < 2 }}", "line 1, column 6: operator '<' on an undefined value ('undefined_name' is undefined)")]
    // Python: TypeError: '<' not supported between instances of 'int' and 'str' (the second link compares 2 with 'a').
    [InlineData("{{ 1 < 2 < 'a' }}", "line 1, column 10: operator '<' is not defined between an integer and a string")]
    public void A_link_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
