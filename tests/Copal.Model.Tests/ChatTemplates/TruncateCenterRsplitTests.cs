using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>truncate</c> and <c>center</c> filters and Python's <c>str.center</c> and <c>str.rsplit</c>, which the
/// reference lacks and the renderer refused. Lengths count code points, as Python's; <c>rsplit()</c> without a
/// separator splits at Python's whitespace (<c>str.isspace()</c>). Every expected text is what Jinja2 3.1.6 renders
/// from the same template (tools/chat-templates/python-check.py's environment); Python's error is written beside each
/// refusal.
/// </summary>
public sealed class TruncateCenterRsplitTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null,
            extra: new Dictionary<string, object?> { ["s"] = "hello world foo" });

    [Theory]
    // Python: hello...|hello ...|hello..|hello world foo|hello world foo|hello...|hell!
    [InlineData("{{ s | truncate(9) }}|{{ s | truncate(9, true) }}|{{ s | truncate(9, false, '..', 0) }}|{{ s | truncate }}|{{ s | truncate(11) }}|{{ s | truncate(10, leeway=0) }}|{{ s | truncate(length=5, end='!') }}",
        "hello...|hello ...|hello..|hello world foo|hello world foo|hello...|hell!")]
    // Python: ab...|ab...|é🙂é🙂é|
    [InlineData("{{ 'abcdefghijklmnop' | truncate(5) }}|{{ 'ab cdefghijklmnop' | truncate(6) }}|{{ '\u00e9\U0001F642\u00e9\U0001F642\u00e9\U0001F642\u00e9\U0001F642\u00e9\U0001F642\u00e9\U0001F642' | truncate(5, true, '', 0) }}|{{ '' | truncate(0, end='') }}",
        "ab...|ab...|\u00e9\U0001F642\u00e9\U0001F642\u00e9|")]
    public void Truncate_is_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: "   ab  | abc  |abc|  é🙂 |  ab | ab " (the extra space of an odd padding goes right, or left when the
    // width is odd too, as CPython pads)
    [InlineData("{{ 'ab' | center(7) }}|{{ 'abc' | center(6) }}|{{ 'abc' | center(2) }}|{{ '\u00e9\U0001F642' | center(5) }}|{{ 'ab'.center(5) }}|{{ 'ab' | center(width=4) }}",
        "   ab  | abc  |abc|  \u00e9\U0001F642 |  ab | ab ")]
    // Python: "  5  |     " (center writes the value's text; undefined's is empty).
    [InlineData("{{ 5 | center(5) }}|{{ undefined_name | center(5) }}", "  5  |     ")]
    public void Center_is_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Center_is_80_wide_by_default()
    {
        // Python: 39 spaces, ab, 39 spaces.
        Assert.Equal(new string(' ', 39) + "ab" + new string(' ', 39), Render("{{ 'ab' | center }}"));
    }

    [Theory]
    // Python: ['hello', 'world', 'foo']|['hello world', 'foo']|['a', 'b', '', 'c']|['  a', 'b']|['a', 'b']|['a b', 'c']|['abc']|[]|['']|['a', 'b', 'c']
    [InlineData("{{ s.rsplit() }}|{{ s.rsplit(' ', 1) }}|{{ 'a,b,,c'.rsplit(',') }}|{{ '  a  b  '.rsplit(none, 1) }}|{{ ' a b '.rsplit() }}|{{ 'a b c'.rsplit(maxsplit=1) }}|{{ 'abc'.rsplit('b', 0) }}|{{ ''.rsplit() }}|{{ ''.rsplit(',') }}|{{ 'a\\u3000b\\u001cc'.rsplit() }}",
        "['hello', 'world', 'foo']|['hello world', 'foo']|['a', 'b', '', 'c']|['  a', 'b']|['a', 'b']|['a b', 'c']|['abc']|[]|['']|['a', 'b', 'c']")]
    public void Rsplit_is_pythons(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: AssertionError: expected length >= 3, got 2
    [InlineData("{{ s | truncate(2) }}", "line 1, column 8: truncate's length 2 is shorter than its end '...'")]
    // Python: AssertionError: expected leeway >= 0, got -1
    [InlineData("{{ s | truncate(5, leeway=-1) }}", "line 1, column 8: truncate's leeway must be 0 or more, got -1")]
    // Python: AttributeError: 'list' object has no attribute 'rsplit'
    [InlineData("{{ [1, 2, 3, 4, 5, 6, 7, 8, 9] | truncate(3) }}", "line 1, column 34: filter 'truncate(...)' is not supported on a list")]
    // Python: TypeError: 'float' object cannot be interpreted as an integer
    [InlineData("{{ 'ab' | center(5.0) }}", "line 1, column 11: center takes width (an integer)")]
    // Python: TypeError: do_truncate() got multiple values for argument 'length' (the renderer took the positional one)
    [InlineData("{{ s | truncate(5, length=3) }}", "line 1, column 8: truncate got length twice")]
    // Python: TypeError: do_truncate() got multiple values for argument 'killwords'
    [InlineData("{{ s | truncate(5, false, killwords=true) }}", "line 1, column 8: truncate got killwords twice")]
    // Python: TypeError: do_center() got multiple values for argument 'width'
    [InlineData("{{ 'ab' | center(5, width=3) }}", "line 1, column 11: center got width twice")]
    // Python: ValueError: empty separator
    [InlineData("{{ 'ab'.rsplit('') }}", "line 1, column 8: rsplit() with an empty separator")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
