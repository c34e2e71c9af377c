using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// <c>sort</c> and <c>dictsort</c> order strings as Python does, by code point: a character above U+FFFF (a UTF-16
/// surrogate pair) comes after U+E000..U+FFFF, where UTF-16 order puts it before them (<c>min</c> and <c>max</c>
/// already compared by code point). Every expected text is what Jinja2 3.1.6 renders from the same template
/// (tools/chat-templates/python-check.py's environment), written beside it as Python's ascii() shows it.
/// </summary>
public sealed class SortOrderTests
{
    [Theory]
    // Python: a,\ue000,\U0001f600
    [InlineData("{{ ['\U0001F600', '\uE000', 'a'] | sort | join(',') }}", "a,\uE000,\U0001F600")]
    // Python: \U0001f600,\ue000
    [InlineData("{{ ['\U0001F600', '\uE000'] | sort(reverse=true) | join(',') }}", "\U0001F600,\uE000")]
    // Python: \ue000\U0001f600
    [InlineData("{% for k, v in {'\U0001F600': 1, '\uE000': 2} | dictsort %}{{ k }}{% endfor %}", "\uE000\U0001F600")]
    // Python: yx
    [InlineData("{% for k, v in {'x': '\U0001F600', 'y': '\uE000'} | dictsort(by='value') %}{{ k }}{% endfor %}", "yx")]
    public void Sort_and_dictsort_order_strings_by_code_point(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    // Jinja2's sort takes comma-separated attributes (each a dotted path, strings lowered unless case_sensitive), and
    // orders by the list of their values; the renderer read 'a,b' as one name no item has, so nothing moved.
    [Theory]
    // Python: [{'a': 1, 'b': 1}, {'a': 1, 'b': 2}, {'a': 2, 'b': 1}]|[{'a': 1, 'b': 'a'}, {'a': 1, 'b': 'B'}]|[{'a': 1, 'b': 'B'}, {'a': 1, 'b': 'a'}]|[{'a': 1, 'b': 2}, {'a': 2, 'b': 1}]|[{'a': {'x': 1}, 'b': 1}, {'a': {'x': 2}, 'b': 1}]|[[1, 'a'], [1, 'c'], [2, 'b']]
    [InlineData("{{ [{'a': 2, 'b': 1}, {'a': 1, 'b': 2}, {'a': 1, 'b': 1}]|sort(attribute='a,b') }}|{{ [{'a': 1, 'b': 'B'}, {'a': 1, 'b': 'a'}]|sort(attribute='a,b') }}|{{ [{'a': 1, 'b': 'B'}, {'a': 1, 'b': 'a'}]|sort(attribute='a,b', case_sensitive=true) }}|{{ [{'a': 1, 'b': 2}, {'a': 2, 'b': 1}]|sort(attribute='b,a', reverse=true) }}|{{ [{'a': {'x': 2}, 'b': 1}, {'a': {'x': 1}, 'b': 1}]|sort(attribute='b,a.x') }}|{{ [[2, 'b'], [1, 'c'], [1, 'a']]|sort(attribute='0,1') }}",
        "[{'a': 1, 'b': 1}, {'a': 1, 'b': 2}, {'a': 2, 'b': 1}]|[{'a': 1, 'b': 'a'}, {'a': 1, 'b': 'B'}]|[{'a': 1, 'b': 'B'}, {'a': 1, 'b': 'a'}]|[{'a': 1, 'b': 2}, {'a': 2, 'b': 1}]|[{'a': {'x': 1}, 'b': 1}, {'a': {'x': 2}, 'b': 1}]|[[1, 'a'], [1, 'c'], [2, 'b']]")]
    public void Sort_takes_comma_separated_attributes(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Fact]
    public void Sort_by_attributes_an_item_lacks_is_refused()
    {
        // Python: UndefinedError: 'dict object' has no attribute 'b' (comparing [1, 2] with [1, Undefined])
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate("{{ [{'a': 1, 'b': 2}, {'a': 1}]|sort(attribute='a,b') }}").Render([], false));
        Assert.Contains("line 1, column 33: cannot sort an integer against an undefined", e.Message, StringComparison.Ordinal);
    }
}
