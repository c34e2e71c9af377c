using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Float literals with an exponent, as Jinja2's lexer reads them (<c>1e3</c>, <c>1E3</c>, <c>1e+3</c>, <c>2.5e-3</c>:
/// floats, as in Python), which the renderer refused. Every expected text is what Jinja2 3.1.6 renders from the same
/// template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class FloatLiteralTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Fact]
    public void Exponents_make_floats()
    {
        // Python: 1000.0|1000.0|1000.0|0.0025|-1000.0|1000|100.0|2.0|True|0.0
        Assert.Equal("1000.0|1000.0|1000.0|0.0025|-1000.0|1000|100.0|2.0|True|0.0",
            Render("{{ 1e3 }}|{{ 1E3 }}|{{ 1e+3 }}|{{ 2.5e-3 }}|{{ -1e3 }}|{{ 1e3|int }}|{{ [1e2][0] }}|{{ 3 - 1e0 }}|{{ 1e3 is float }}|{{ 0e0 }}"));
    }

    [Fact]
    public void An_exponent_is_one_item_or_argument()
    {
        // Python: [1000.0]|a1000.0|{'a': 1000.0} (the reference read 1e3 as two items, 1 and e3; these were refused).
        Assert.Equal("[1000.0]|a1000.0|{'a': 1000.0}", Render("{{ [1e3] }}|{{ {}.get('x', 'a' ~ 1e3) }}|{{ {'a': 1e3} }}"));
    }

    [Fact]
    public void An_exponent_without_digits_is_no_number()
    {
        // Python: TemplateSyntaxError, expected token 'end of print statement', got 'e'.
        Assert.Throws<ChatTemplateException>(() => Render("{{ 1e }}"));
    }
}
