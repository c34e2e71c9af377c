using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Filters and operators where the renderer refused what Jinja2 renders: <c>trim</c> of undefined (empty text), a
/// number or a boolean (Jinja2's <c>str(value).strip(chars)</c>) and with characters to remove;
/// <c>list</c> and <c>reverse</c> of a string (its characters), a mapping (its keys) and undefined (nothing); booleans
/// in arithmetic (Python's bool is an int; comparisons chain, ComparisonChainTests); <c>count</c>; <c>first</c> and
/// <c>last</c> of a string, a mapping and undefined; <c>length</c> and <c>string</c> of undefined. Every expected text is what Jinja2 3.1.6 renders from the
/// same template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class StringFilterParityTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: |1|a||b b|ab|a|1.5|rue
    [InlineData("{{ x|trim }}|{{ 1|trim }}|{{ 'xxaxx'|trim('x') }}|{{ x|trim('x') }}|{{ ' ab ba '|trim('a ') }}|{{ 'ab'|trim('') }}|{{ ' a '|trim(none) }}|{{ 1.5|trim }}|{{ true|trim('T') }}",
        "|1|a||b b|ab|a|1.5|rue")]
    // Python: ['a', 'b', 'c']|['🙂', 'a', 'b']|[]|[]|['a', 'b']|cba|b🙂a|['b', 'a']|[]|
    [InlineData("{{ 'abc'|list }}|{{ '\U0001F642ab'|list }}|{{ ''|list }}|{{ x|list }}|{{ {'a':1,'b':2}|list }}|{{ 'abc'|reverse }}|{{ 'a\U0001F642b'|reverse }}|{{ {'a':1,'b':2}|reverse|list }}|{{ x|reverse|list }}|{{ ''|reverse }}",
        "['a', 'b', 'c']|['\U0001F642', 'a', 'b']|[]|[]|['a', 'b']|cba|b\U0001F642a|['b', 'a']|[]|")]
    // Python: 2|2.5|-1|0.5|1|1|2
    [InlineData("{{ true + 1 }}|{{ true * 2.5 }}|{{ false - true }}|{{ true / 2 }}|{{ true // 1 }}|{{ true % 2 }}|{{ true + true }}",
        "2|2.5|-1|0.5|1|1|2")]
    // Python: 3|2|1|0|0 (count is Jinja2's other name for length; undefined's length is 0).
    [InlineData("{{ 'abc' | count }}|{{ [1,2] | count }}|{{ {'a': 1} | count }}|{{ x | count }}|{{ x | length }}", "3|2|1|0|0")]
    // Python: a|🙂|||a||b| (first and last of a string are characters, of a mapping keys, of undefined undefined).
    [InlineData("{{ 'a\u00e9\U0001F642' | first }}|{{ 'a\U0001F642' | last }}|{{ '' | first }}|{{ '' | last }}|{{ {'a': 1, 'b': 2} | first }}|{{ x | first }}|{{ {'a': 1, 'b': 2} | last }}|{{ x | last }}",
        "a|\U0001F642|||a||b|")]
    // Python: |0|[Undefined] (str() of undefined is empty; inside a list it is written Undefined).
    [InlineData("{{ x | string }}|{{ (x | string) | length }}|{{ [x] | string }}", "|0|[Undefined]")]
    public void Renders_as_jinja2(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python writes None and [' a']; the reference refuses both, and a template that trims a tool call's none content
    // must fail for the formatter to give it empty text (TemplateChatFormatter), as vLLM's prompts have it.
    [InlineData("{{ none|trim }}", "filter 'trim' is not supported on a none")]
    [InlineData("{{ [' a']|trim }}", "filter 'trim' is not supported on a list")]
    // Python: TypeError: object of type 'int' has no len()
    [InlineData("{{ 5 | count }}", "filter 'count' is not supported on an integer")]
    public void What_stays_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trim_takes_text_or_none_to_remove()
    {
        // Python: TypeError, strip arg must be None or str.
        var e = Assert.Throws<ChatTemplateException>(() => Render("{{ 'ab'|trim(1) }}"));
        Assert.Contains("trim takes the characters to remove", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wordcount_counts_pythons_word_runs()
    {
        // Python: 2|0|5|7|2|1|0|2|3|2 (\w+ over str(value): letters and numbers of any script and _, not a combining
        // mark; the renderer refused the filter).
        Assert.Equal("2|0|5|7|2|1|0|2|3|2", Render(
            "{{ 'a b'|wordcount }}|{{ ''|wordcount }}|{{ '  hello,  world! foo_bar 12 x1 '|wordcount }}|{{ '\u00e9 \u00df \u0130 \u4e2d\u6587 \U0001F642 \u0663 \u216b \u00bd'|wordcount }}|{{ 'e\u0301a'|wordcount }}|{{ none|wordcount }}|{{ x|wordcount }}|{{ 12.5|wordcount }}|{{ [1, 'a b']|wordcount }}|{{ 'a-b_c'|wordcount }}"));
    }
}
