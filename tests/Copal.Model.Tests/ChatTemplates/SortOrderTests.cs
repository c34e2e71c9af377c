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
}
