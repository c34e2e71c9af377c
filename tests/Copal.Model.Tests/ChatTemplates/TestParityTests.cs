using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// The <c>is</c> tests as Jinja2 defines them, where the renderer followed the reference: <c>iterable</c> is true for
/// mappings, tuples and undefined too (Python iterates them), <c>sequence</c> for undefined, <c>number</c> for booleans
/// (Python's bool is an int), <c>float</c> exists, and <c>lower</c>/<c>upper</c> are Python's str(value).islower()/isupper()
/// (a cased character, Unicode's Lowercase and Uppercase properties, any value by its text). Every expected text is
/// what Jinja2 3.1.6 renders from the same template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class TestParityTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: True|True|True|True|True|False|False|False|True
    [InlineData("{{ undef is iterable }}|{{ undef is sequence }}|{{ {} is iterable }}|{{ (1, 2) is iterable }}|{{ {} is sequence }}|{{ 1 is iterable }}|{{ none is sequence }}|{{ namespace() is iterable }}|{{ 'ab' is iterable }}",
        "True|True|True|True|True|False|False|False|True")]
    // Python: True|False|True|False|True
    [InlineData("{{ true is number }}|{{ true is integer }}|{{ 1.5 is float }}|{{ 1 is float }}|{{ 1.5 is number }}", "True|False|True|False|True")]
    // Python: False|False|True|False|True|True|False|False
    [InlineData("{{ '123' is lower }}|{{ '123' is upper }}|{{ 'ab1' is lower }}|{{ '' is lower }}|{{ '\u00df' is lower }}|{{ '\u03a3 1' is upper }}|{{ '\u01c5' is upper }}|{{ '\u01c5' is lower }}",
        "False|False|True|False|True|True|False|False")]
    public void Tests_are_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Lower_and_upper_are_pythons_str_islower_and_isupper()
    {
        // Jinja2's test_lower is str(value).islower(), so a list or mapping is tested by its text; Python's cased
        // characters include Other_Lowercase and Other_Uppercase (modifier letters, Roman numerals, circled letters),
        // and a character with no case mapping still has its case ('a' with U+03D2, upper, is not lower).
        // Python: False|True|True|True|False|False|False|False
        Assert.Equal("False|True|True|True|False|False|False|False",
            Render("{{ [1] is lower }}|{{ ['a'] is lower }}|{{ {'A': 1} is upper }}|{{ ('b', 2) is lower }}|{{ none is lower }}|{{ true is upper }}|{{ 1.5 is lower }}|{{ x is lower }}"));
        // Python: True|True|True|True|False|False|True
        Assert.Equal("True|True|True|True|False|False|True",
            Render("{{ '\u1d43' is lower }}|{{ '\u00aa1' is lower }}|{{ '\u2167' is upper }}|{{ '\u24b6B' is upper }}|{{ 'a\u03d2' is lower }}|{{ 'A\u0138' is upper }}|{{ '\u2177\u24d0' is lower }}"));
    }

    [Fact]
    public void An_undefined_value_is_callable_as_jinja2s_undefined_is()
    {
        // Jinja2's Undefined defines __call__ (it raises when called), so Python's callable() is true for it; the
        // renderer, as the reference, said false. Python: True|False|True|True
        Assert.Equal("True|False|True|True", Render("{{ undefined_name is callable }}|{{ none is callable }}|{{ {}.zz is callable }}|{{ 'a'.upper is callable }}"));
    }
}
