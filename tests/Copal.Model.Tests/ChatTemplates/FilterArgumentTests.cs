using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Every filter with parameters binds its arguments as Python binds a call to Jinja2's filter function: by position,
/// by keyword (the parameter names Jinja2 3.1.6 declares: <c>join(d, attribute)</c>, <c>default(default_value,
/// boolean)</c>, ...), the defaults otherwise. Before, <c>join</c>, <c>int</c>, <c>indent</c>, <c>sort</c>,
/// <c>unique</c>, <c>sum</c>, <c>trim</c>, <c>default</c> and <c>tojson</c> each read their arguments their own way:
/// an argument given both by position and by keyword was taken once, a keyword they did not know was ignored, and
/// <c>tojson</c> ignored positional arguments. Every expected text is what Jinja2 3.1.6 renders from the same template
/// (tools/chat-templates/python-check.py's environment), and Python's error is written beside each refusal.
/// </summary>
public sealed class FilterArgumentTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null,
            extra: new Dictionary<string, object?>
            {
                ["xs"] = new List<object?> { 3, 1, 2 },
                ["users"] = new List<object?>
                {
                    new Dictionary<string, object?> { ["name"] = "b", ["age"] = 3 },
                    new Dictionary<string, object?> { ["name"] = "A", ["age"] = 1 },
                },
            });

    [Theory]
    // Python: TypeError: sync_do_join() got multiple values for argument 'd'
    [InlineData("{{ xs|join(',', d='x') }}", "line 1, column 7: join got d twice")]
    // Python: TypeError: do_int() got multiple values for argument 'default'
    [InlineData("{{ '12'|int(3, default=4) }}", "line 1, column 9: int got default twice")]
    // Python: TypeError: do_sort() got multiple values for argument 'reverse'
    [InlineData("{{ xs|sort(true, reverse=true) }}", "line 1, column 7: sort got reverse twice")]
    // Python: TypeError: do_indent() got multiple values for argument 'width'
    [InlineData("{{ 'a\\nb'|indent(2, width=3) }}", "line 1, column 11: indent got width twice")]
    // Python: TypeError: sync_do_unique() got multiple values for argument 'case_sensitive'
    [InlineData("{{ xs|unique(true, case_sensitive=false) }}", "line 1, column 7: unique got case_sensitive twice")]
    // Python: TypeError: sync_do_sum() got multiple values for argument 'attribute'
    [InlineData("{{ xs|sum(none, attribute=none) }}", "line 1, column 7: sum got attribute twice")]
    // Python: TypeError: do_trim() got multiple values for argument 'chars'
    [InlineData("{{ ' x '|trim('x', chars=' ') }}", "line 1, column 10: trim got chars twice")]
    // Python: TypeError: do_default() got multiple values for argument 'default_value'
    [InlineData("{{ x|default('a', default_value='b') }}", "line 1, column 6: default got default_value twice")]
    // Python: TypeError: tojson() got multiple values for argument 'ensure_ascii'
    [InlineData("{{ xs|tojson(false, ensure_ascii=true) }}", "line 1, column 7: tojson got ensure_ascii twice")]
    // Python: TypeError: do_dictsort() got multiple values for argument 'case_sensitive'
    [InlineData("{{ {'b': 1}|dictsort(true, case_sensitive=true) }}", "line 1, column 13: dictsort got case_sensitive twice")]
    // Python: TypeError: do_replace() got multiple values for argument 'old'
    [InlineData("{{ 'aXa'|replace('a', 'b', old='x') }}", "line 1, column 10: replace got old twice")]
    public void An_argument_given_by_position_and_by_keyword_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Python: TypeError: sync_do_join() got an unexpected keyword argument 'separator'
    [InlineData("{{ xs|join(separator=',') }}", "line 1, column 7: join takes no argument 'separator' (it takes d, attribute)")]
    // Python: TypeError: do_float() got an unexpected keyword argument 'base'
    [InlineData("{{ '12'|float(base=10) }}", "line 1, column 9: float takes no argument 'base' (it takes default)")]
    // Python: TypeError: do_sort() got an unexpected keyword argument 'foo'
    [InlineData("{{ xs|sort(foo=1) }}", "line 1, column 7: sort takes no argument 'foo' (it takes reverse, case_sensitive, attribute)")]
    // Python: TypeError: tojson() got an unexpected keyword argument 'foo'
    [InlineData("{{ xs|tojson(foo=1) }}", "line 1, column 7: tojson takes no argument 'foo'")]
    // Python: TypeError: do_float() takes from 1 to 2 positional arguments but 3 were given
    [InlineData("{{ '12'|float(0.0, 10) }}", "line 1, column 9: float takes at most 1 argument (default), got 2")]
    // Python: TypeError: sync_do_join() takes from 2 to 4 positional arguments but 5 were given
    [InlineData("{{ xs|join(',', 'a', 'b') }}", "line 1, column 7: join takes at most 2 arguments (d, attribute), got 3")]
    // Python: TypeError: do_truncate() takes from 2 to 6 positional arguments but 7 were given
    [InlineData("{{ 'abc'|truncate(5, 1, '..', 0, 3) }}", "line 1, column 10: truncate takes at most 4 arguments (length, killwords, end, leeway), got 5")]
    // Python: TypeError: do_dictsort() got an unexpected keyword argument 'foo'
    [InlineData("{{ {'b': 1}|dictsort(foo=1) }}", "line 1, column 13: dictsort takes no argument 'foo' (it takes case_sensitive, by, reverse)")]
    // Python: TypeError: do_replace() takes from 4 to 5 positional arguments but 6 were given
    [InlineData("{{ 'aXa'|replace('a', 'b', 1, 2) }}", "line 1, column 10: replace takes at most 3 arguments (old, new, count), got 4")]
    // Python: TypeError: do_replace() missing 1 required positional argument: 'new'
    [InlineData("{{ 'aXa'|replace('a') }}", "line 1, column 10: replace needs new")]
    public void An_unknown_keyword_or_too_many_arguments_are_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Python: 3,1,2|312|a-b-c|a,b|b, A|31112
    [InlineData("{{ xs|join(',') }}|{{ xs|join }}|{{ 'abc'|join('-') }}|{{ {'a':1,'b':2}|join(',') }}|{{ users|join(', ', attribute='name') }}|{{ xs|join(1) }}",
        "3,1,2|312|a-b-c|a,b|b, A|31112")]
    // Python: |b|e|e (default with no argument was refused)
    [InlineData("{{ x|default }}|{{ x|default(default_value='b') }}|{{ ''|default('e', 1) }}|{{ ''|default('e', boolean=true) }}", "|b|e|e")]
    // Python: x|d (boolean replaces only a false value)
    [InlineData("{{ 'x'|default('d', true) }}|{{ 0|default('d', true) }}", "x|d")]
    // Python: "\u00e9"|"é"|[3, 1, 2] (tojson's first positional argument is ensure_ascii, which was ignored)
    [InlineData("{{ 'é'|tojson(true) }}|{{ 'é'|tojson }}|{{ xs|tojson(false) }}", "\"\\u00e9\"|\"é\"|[3, 1, 2]")]
    // Python: a\n  b|> a\n> \n> b|a\nb|a (a string width is the indentation; a negative one none)
    [InlineData("{{ 'a\\nb'|indent(2) }}|{{ 'a\\n\\nb'|indent('> ', true, true) }}|{{ 'a\\nb'|indent(-1, true) }}|{{ 'a'|indent }}", "a\n  b|> a\n> \n> b|a\nb|a")]
    // Python: [3, 2, 1]|[3, 2, 1]|Ab|['a', 'b', 'c']|10|7|4
    [InlineData("{{ xs|sort(true) }}|{{ xs|sort(reverse=true) }}|{{ users|sort(attribute='name')|map(attribute='name')|join }}|{{ 'cab'|sort }}|{{ '12'|int(0, base=8) }}|{{ xs|sum(none, 1) }}|{{ users|sum('age') }}",
        "[3, 2, 1]|[3, 2, 1]|Ab|['a', 'b', 'c']|10|7|4")]
    public void Arguments_bind_by_position_keyword_and_default_as_in_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }
}
