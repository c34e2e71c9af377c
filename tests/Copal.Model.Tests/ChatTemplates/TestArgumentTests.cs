using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Tests that take an argument, written as Jinja2 takes them: <c>x is divisibleby 3</c> (one primary expression with
/// its members and calls after the name) or <c>x is divisibleby(3)</c>: <c>divisibleby</c>, <c>sameas</c> (Python's
/// identity, defined here for none and booleans), <c>eq</c>/<c>equalto</c>, <c>ne</c>, <c>lt</c>/<c>lessthan</c>,
/// <c>le</c>, <c>gt</c>/<c>greaterthan</c>, <c>ge</c> and <c>in</c>. The renderer refused every test with an
/// argument. Every expected text is what Jinja2 3.1.6 renders from the same template
/// (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class TestArgumentTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null, new Dictionary<string, object?>
        {
            ["x"] = "user",
            ["m"] = new List<object?> { new Dictionary<string, object?> { ["role"] = "user", ["x"] = null } },
        });

    [Theory]
    // Python: True|False|True|True|True|True|True|False|False|True|True|True|True|False|True|True|False|True|True
    [InlineData("{{ 6 is divisibleby 3 }}|{{ 6 is divisibleby(4) }}|{{ none is sameas none }}|{{ 2 is eq 2 }}|{{ 2 is ne 3 }}|{{ 2 is lt 3 }}|{{ 2 is le 2 }}|{{ 2 is gt 3 }}|{{ 2 is ge 3 }}|{{ 2 is not in [1] }}|{{ 1 is in [1] }}|{{ \"a\" is in \"ab\" }}|{{ 2 is greaterthan 1 }}|{{ 2 is lessthan 1 }}|{{ 2 is equalto 2.0 }}|{{ true is sameas true }}|{{ 6 is divisibleby 2.5 }}|{{ 7.5 is divisibleby 2.5 }}|{{ true is divisibleby 1 }}",
        "True|False|True|True|True|True|True|False|False|True|True|True|True|False|True|True|False|True|True")]
    // Python: True|True|True|True|[2]|False|True
    [InlineData("{{ x is eq m[0].role }}|{{ 1 is in [1][0:1] }}|{{ 3 is ne 1 and true }}|{{ 3 is not divisibleby 2 }}|{{ [1,2,3]|select(\"divisibleby\", 2)|list }}|{{ m[0] is sameas none }}|{{ m[0].x is sameas none }}",
        "True|True|True|True|[2]|False|True")]
    // Python: y|24|1|True|True|False|True|False|False|True
    [InlineData("{% if 4 is divisibleby 2 and 3 is odd %}y{% endif %}|{% for i in [1,2,3,4] if i is divisibleby 2 %}{{ i }}{% endfor %}|{{ 1 if 2 is lt 3 else 0 }}|{{ \"ab\" is in [\"ab\"] }}|{{ 5 is ge(5) }}|{{ 5 is gt 5.5 }}|{{ false is sameas false }}|{{ 0 is sameas false }}|{{ none is sameas false }}|{{ 2 is lessthan 3 }}",
        "y|24|1|True|True|False|True|False|False|True")]
    public void Tests_take_an_argument_as_jinja2(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python raises ZeroDivisionError, TypeError ("eq expected 2 arguments, got 1"; test_odd takes 1 positional
    // argument; '<' between str and int) and TemplateSyntaxError ('true' after the test's argument 'if').
    [InlineData("{{ 6 is divisibleby 0 }}", "modulo by zero")]
    [InlineData("{{ 1 is eq }}", "test 'eq' needs an argument")]
    [InlineData("{{ 1 is eq(1, 2) }}", "test 'eq' takes one argument")]
    [InlineData("{{ 1 is odd(2) }}", "test 'odd' takes no argument")]
    [InlineData("{{ 1 is defined if true else 2 }}", "expected }}")]
    // Python: TemplateSyntaxError, You cannot chain multiple tests with is (after a test with an argument it can).
    [InlineData("{{ {} is not sequence is eq 'user' }}", "tests cannot be chained with 'is'")]
    public void What_python_refuses_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
