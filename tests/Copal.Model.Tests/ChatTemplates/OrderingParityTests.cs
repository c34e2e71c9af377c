using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Python's order where the renderer refused it: <c>&lt;</c>, <c>&gt;</c>, <c>&lt;=</c>, <c>&gt;=</c> of strings (by code
/// point) and of lists with lists and tuples with tuples (item by item), <c>sort</c> of lists, <c>tojson(sort_keys=true)</c>,
/// and two places where the renderer wrote text and Python raises: <c>dictsort(by='value')</c> of none values and
/// <c>range()</c> past the sandbox's MAX_RANGE (100000). Every expected text is what Jinja2 3.1.6 renders from the same
/// template (tools/chat-templates/python-check.py's environment), written beside it as Python's ascii() shows it;
/// Python's error is written beside each refusal.
/// </summary>
public sealed class OrderingParityTests
{
    private static string Render(string template) => new ChatTemplate(template).Render([], addGenerationPrompt: false);

    [Theory]
    // Python: True|True|True|True|True
    [InlineData("{{ 'a' < 'b' }}|{{ 'B' < 'a' }}|{{ 'ab' >= 'a' }}|{{ 'b' <= 'b' }}|{{ '\U0001F600' > '\uE000' }}", "True|True|True|True|True")]
    // Python: True|False|True|True|True|True|False|False|True
    [InlineData("{{ [1, 2] < [1, 3] }}|{{ (1, 2) < (1,) }}|{{ [1] <= [1] }}|{{ [1, 2] > [1] }}|{{ () < (1,) }}|{{ [2] > [1, 5] }}|{{ ['b', 'A'] < ['a'] }}|{{ [1, none] < [1, none] }}|{{ [[1], 'a'] < [[1], 'b'] }}",
        "True|False|True|True|True|True|False|False|True")]
    // Python: [[1], [1, 5], [2, 1]]|[['A'], ['b']]|[(1, 'b'), (1, 'a')]|[[0, None], [1, None]]|[None, None]
    [InlineData("{{ [[2, 1], [1, 5], [1]] | sort }}|{{ [['b'], ['A']] | sort }}|{{ [(1, 'b'), (1, 'a')] | sort(reverse=true) }}|{{ [[1, none], [0, none]] | sort }}|{{ [none, none] | sort }}",
        "[[1], [1, 5], [2, 1]]|[['A'], ['b']]|[(1, 'b'), (1, 'a')]|[[0, None], [1, None]]|[None, None]")]
    // Python: {"a": {"c": [{"y": 2, "z": 1}], "d": 1}, "b": 1}
    [InlineData("{{ {'b': 1, 'a': {'d': 1, 'c': [{'z': 1, 'y': 2}]}} | tojson(sort_keys=true) }}", "{\"a\": {\"c\": [{\"y\": 2, \"z\": 1}], \"d\": 1}, \"b\": 1}")]
    // Python: {\n  "a": 2,\n  "b": 1\n}
    [InlineData("{{ {'b': 1, 'a': 2} | tojson(indent=2, sort_keys=true) }}", "{\n  \"a\": 2,\n  \"b\": 1\n}")]
    // Python: {"B": 4, "b": 1, "\ue000": 3, "\U0001f600": 2} (by code point; sort_keys taken by its truth)
    [InlineData("{{ {'b': 1, '\U0001F600': 2, '\uE000': 3, 'B': 4} | tojson(sort_keys=1) }}", "{\"B\": 4, \"b\": 1, \"\uE000\": 3, \"\U0001F600\": 2}")]
    // Python: {"a":2,"b":1}|[\n 1;\n {\n  "b"=1;\n  "a"=2\n }\n]
    [InlineData("{{ {'b': 1, 'a': 2} | tojson(separators=(',', ':'), sort_keys=true) }}|{{ [1, {'b': 1, 'a': 2}] | tojson(indent=1, separators=(';', '=')) }}",
        "{\"a\":2,\"b\":1}|[\n 1;\n {\n  \"b\"=1;\n  \"a\"=2\n }\n]")]
    // Python: [('a', None)]|[('b', 1), ('a', 1)]|[('b', [1]), ('a', [2])]
    [InlineData("{{ {'a': none} | dictsort(by='value') }}|{{ {'b': 1, 'a': 1} | dictsort(by='value') }}|{{ {'b': [1], 'a': [2]} | dictsort(by='value') }}",
        "[('a', None)]|[('b', 1), ('a', 1)]|[('b', [1]), ('a', [2])]")]
    // Python: 100000|100000|100000
    [InlineData("{{ range(100000) | length }}|{{ range(0, 200000, 2) | length }}|{{ range(100000, 0, -1) | length }}", "100000|100000|100000")]
    public void Renders_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: '<' not supported between instances of 'list' and 'tuple'
    [InlineData("{{ [1] < (1,) }}", "line 1, column 8: operator '<' is not defined between a list and a tuple")]
    // Python: TypeError: '<' not supported between instances of 'str' and 'int'
    [InlineData("{{ 'a' < 1 }}", "line 1, column 8: operator '<' is not defined between a string and an integer")]
    // Python: TypeError: '<' not supported between instances of 'str' and 'int'
    [InlineData("{{ [1, 'a'] < [1, 2] }}", "line 1, column 13: operator '<' is not defined between a string and an integer")]
    // Python: TypeError: '<' not supported between instances of 'NoneType' and 'int'
    [InlineData("{{ [none] < [1] }}", "line 1, column 11: operator '<' is not defined between a none and an integer")]
    // Python: TypeError: '<' not supported between instances of 'NoneType' and 'int'
    [InlineData("{{ [[1], [none]] | sort }}", "line 1, column 20: cannot sort an integer against a none")]
    // Python: TypeError: '<' not supported between instances of 'NoneType' and 'NoneType'
    [InlineData("{{ {'b': none, 'a': none} | dictsort(by='value') }}", "line 1, column 29: cannot sort a none against a none")]
    // Python: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).
    [InlineData("{{ range(100001) | length }}", "line 1, column 4: range() of 100001 numbers is more than the 100000 allowed")]
    // Python: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).
    [InlineData("{{ range(-100001, 0) | length }}", "line 1, column 4: range() of 100001 numbers is more than the 100000 allowed")]
    // Python: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).
    [InlineData("{{ range(0, 200001, 2) | length }}", "line 1, column 4: range() of 100001 numbers is more than the 100000 allowed")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
