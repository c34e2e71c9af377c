using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Cases found by rendering random templates with Python's Jinja2 (set up as transformers sets it up),
/// @huggingface/jinja and this renderer, where this renderer wrote text Jinja2 does not write. The expected strings
/// are Jinja2 3.1.6's.
/// </summary>
public class JinjaDifferentialTests
{
    private static readonly ChatTemplateMessage[] s_user = [new("user", "hi")];

    private static string Render(string template) => new ChatTemplate(template).Render(s_user, addGenerationPrompt: false);

    // Jinja2 renders these as one float (1000.0); the reference read `1 e3` as two items or arguments and wrote
    // `[1, undefined]` and `a1`. An exponent literal is not supported, so they are refused, never misread.
    [Theory]
    [InlineData("{{ [1e3] }}", "expected ',' or ], found 'e3'", "line 1, column 6")]
    [InlineData("{{ {}.get('x', 'a' ~ 1e3) }}", "expected ',' or ), found 'e3'", "line 1, column 23")]
    [InlineData("{{ {'a': 1e3} }}", "expected ',' or }, found 'e3'", "line 1, column 11")]
    [InlineData("{% macro m(a b) %}{% endmacro %}", "expected ',' or ), found 'b'", "line 1, column 14")]
    [InlineData("{{ ['a' 'b' x] }}", "expected ',' or ], found 'x'", "line 1, column 13")]
    public void Items_without_a_comma_between_them_are_refused(string template, string message, string position)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template));
        Assert.True(e.Message.Contains(message, StringComparison.Ordinal) && e.Message.Contains(position, StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void Commas_still_separate_items_and_a_trailing_comma_is_allowed()
    {
        // Adjacent string literals are one string, as in Jinja2: ['a' 'b'] is ['ab'].
        Assert.Equal("[1, 2]|[\"ab\"]|{\"a\": 1}|b", Render("{{ [1, 2,] }}|{{ ['a' 'b'] }}|{{ {'a': 1,} }}|{{ {}.get('x', 'b',) }}"));
    }

    // A negative step with an explicit stop of -1 stops before the last item, as Python slices: the reference took -1
    // as "no stop" and wrote 'fdb' and [6, 4, 2] for these.
    [Theory]
    [InlineData("{{ 'abcdef'[-1:-1:-2] }}", "")]
    [InlineData("{{ [1, 2, 3, 4, 5, 6][-1:-1:-2] }}", "[]")]
    [InlineData("{{ 'abcdef'[3:-1:-1] }}", "")]
    [InlineData("{{ 'abcdef'[5:-1:-1] }}", "")]
    [InlineData("{{ 'abcdef'[5:-2:-1] }}", "f")]
    [InlineData("{{ 'abcdef'[::-1] }}|{{ 'abcdef'[:1:-1] }}|{{ 'abcdef'[-2:-5:-1] }}|{{ 'abcdef'[5:-10:-2] }}", "fedcba|fedc|edc|fdb")]
    public void Negative_step_slices_stop_where_python_stops(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }
}
