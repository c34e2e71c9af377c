using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>groupby</c>, <c>batch</c> and <c>slice</c> filters and Python's string methods <c>removeprefix</c>,
/// <c>removesuffix</c> and <c>zfill</c>, which the renderer refused (the reference lacks them). Every expected text is
/// what Jinja2 3.1.6 renders from the same template and variables (tools/chat-templates/python-check.py's environment),
/// written beside it as Python's ascii() shows it; Python's error is written beside each refusal. Jinja2's
/// <c>batch</c> and <c>slice</c> are generators, so their templates list them (<c>| list</c>) to print the same text.
/// </summary>
public sealed class GroupBatchSliceTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null,
            extra: new Dictionary<string, object?>
            {
                ["users"] = new List<object?>
                {
                    new Dictionary<string, object?> { ["name"] = "b", ["age"] = 3 },
                    new Dictionary<string, object?> { ["name"] = "A", ["age"] = 1 },
                    new Dictionary<string, object?> { ["name"] = "a", ["age"] = 3 },
                },
            });

    [Theory]
    // Python: [(1, [{'name': 'A', 'age': 1}]), (3, [{'name': 'b', 'age': 3}, {'name': 'a', 'age': 3}])]
    [InlineData("{{ users | groupby('age') }}", "[(1, [{'name': 'A', 'age': 1}]), (3, [{'name': 'b', 'age': 3}, {'name': 'a', 'age': 3}])]")]
    // Python: 1: A;3: b,a;
    [InlineData("{% for age, people in users | groupby('age') %}{{ age }}: {{ people | map(attribute='name') | join(',') }};{% endfor %}", "1: A;3: b,a;")]
    // Python: A=2,A,1;b=1,b,3; (case-insensitive: the grouper is the first item's own text)
    [InlineData("{% for g in users | groupby('name') %}{{ g.grouper }}={{ g.list | length }},{{ g[0] }},{{ g.list[0].age }};{% endfor %}", "A=2,A,1;b=1,b,3;")]
    // Python: A:1;a:1;b:1;
    [InlineData("{% for g in users | groupby(attribute='name', case_sensitive=true) %}{{ g.grouper }}:{{ g.list | length }};{% endfor %}", "A:1;a:1;b:1;")]
    // Python: [(0, [{'b': 2}]), (1, [{'a': 1}, {'a': 1}])]
    [InlineData("{{ [{'a': 1}, {'b': 2}, {'a': 1}] | groupby('a', default=0) }}", "[(0, [{'b': 2}]), (1, [{'a': 1}, {'a': 1}])]")]
    // Python: [(0, [[0, 'y']]), (1, [[1, 'x'], [1, 'z']])]
    [InlineData("{{ [[1, 'x'], [0, 'y'], [1, 'z']] | groupby(0) | list }}", "[(0, [[0, 'y']]), (1, [[1, 'x'], [1, 'z']])]")]
    // Python: [1, 2]
    [InlineData("{{ [{'p': {'q': 2}}, {'p': {'q': 1}}] | groupby('p.q') | map('first') | list }}", "[1, 2]")]
    // Python: [[1, [{"name": "A", "age": 1}]], [3, [{"name": "b", "age": 3}, {"name": "a", "age": 3}]]]
    [InlineData("{{ users | groupby('age') | tojson }}", "[[1, [{\"name\": \"A\", \"age\": 1}]], [3, [{\"name\": \"b\", \"age\": 3}, {\"name\": \"a\", \"age\": 3}]]]")]
    // Python: []|[('a', ['a']), ('b', ['b', 'b'])]
    [InlineData("{{ [] | groupby('a') }}|{{ 'bab' | groupby(0) }}", "[]|[('a', ['a']), ('b', ['b', 'b'])]")]
    // Python: [[1, 2], [3, 4], [5]]|[[1, 2], [3, 4], [5, 'x']]|[[1, 2, 3]]|[['a', 'b'], ['c']]|[]|[[], [1, 2]]
    [InlineData("{{ [1, 2, 3, 4, 5] | batch(2) | list }}|{{ [1, 2, 3, 4, 5] | batch(2, 'x') | list }}|{{ [1, 2, 3] | batch(3, 0) | list }}|{{ 'abc' | batch(2) | list }}|{{ [] | batch(2) | list }}|{{ [1, 2] | batch(0) | list }}",
        "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 4], [5, 'x']]|[[1, 2, 3]]|[['a', 'b'], ['c']]|[]|[[], [1, 2]]")]
    // Python: 1+2;3;
    [InlineData("{% for row in [1, 2, 3] | batch(2) %}{{ row | join('+') }};{% endfor %}", "1+2;3;")]
    // Python: [[1, 2], [3]]
    [InlineData("{{ [1, 2, 3] | batch(linecount=2, fill_with=none) | list }}", "[[1, 2], [3]]")]
    // Python: [[1, 2], [3, 4], [5]]|[[1, 2], [3, 0], [4, 0]]|[[1], [2], [], []]|[[1, 2, 3], [4, 5, 'x'], [6, 7, 'x']]|[]|[['a', 'b', 'c'], ['d', 'e']]
    [InlineData("{{ [1, 2, 3, 4, 5] | slice(3) | list }}|{{ [1, 2, 3, 4] | slice(3, 0) | list }}|{{ [1, 2] | slice(4) | list }}|{{ [1, 2, 3, 4, 5, 6, 7] | slice(3, 'x') | list }}|{{ [1, 2] | slice(-1) | list }}|{{ 'abcde' | slice(2) | list }}",
        "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 0], [4, 0]]|[[1], [2], [], []]|[[1, 2, 3], [4, 5, 'x'], [6, 7, 'x']]|[]|[['a', 'b', 'c'], ['d', 'e']]")]
    // Python: bc|abc|a|abc|x
    [InlineData("{{ 'abc'.removeprefix('a') }}|{{ 'abc'.removeprefix('b') }}|{{ 'abc'.removesuffix('bc') }}|{{ 'abc'.removesuffix('') }}|{{ '\U0001F642x'.removeprefix('\U0001F642') }}", "bc|abc|a|abc|x")]
    // Python: 00042|-0042|+00x|abc|000|00\U0001f642|-00|5
    [InlineData("{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ '+x'.zfill(4) }}|{{ 'abc'.zfill(2) }}|{{ ''.zfill(3) }}|{{ '\U0001F642'.zfill(3) }}|{{ '-'.zfill(3) }}|{{ '5'.zfill(true) }}",
        "00042|-0042|+00x|abc|000|00\U0001F642|-00|5")]
    // Python: [(5, [{'x': 1}])]|[(2, [{'p': {'q': 2}}]), (5, [{'x': 1}])] (the default goes in for each missing part,
    // and the rest of the path is read from it)
    [InlineData("{{ [{'x': 1}] | groupby('a.b', default={'b': 5}) }}|{{ [{'p': {'q': 2}}, {'x': 1}] | groupby('p.q', default={'q': 5}) }}",
        "[(5, [{'x': 1}])]|[(2, [{'p': {'q': 2}}]), (5, [{'x': 1}])]")]
    // Python: [('z', [{'0': 'b'}, {'0': 'a'}])]|[{'0': 'b'}, {'0': 'a'}] (the part '0' is the integer 0, no string key)
    [InlineData("{{ [{'0': 'b'}, {'0': 'a'}] | groupby('0', default='z') }}|{{ [{'0': 'b'}, {'0': 'a'}] | sort(attribute='0') }}",
        "[('z', [{'0': 'b'}, {'0': 'a'}])]|[{'0': 'b'}, {'0': 'a'}]")]
    public void Renders_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: '<' not supported between instances of 'NoneType' and 'NoneType'
    [InlineData("{{ [{'a': none}, {'a': none}] | groupby('a') }}", "line 1, column 33: cannot sort a none against a none")]
    // Python: UndefinedError: 'dict object' has no attribute 'zz'
    [InlineData("{{ users | groupby('zz') }}", "line 1, column 12: groupby: an item has no attribute 'zz'")]
    // Python: TypeError: sync_do_groupby() missing 1 required positional argument: 'attribute'
    [InlineData("{{ users | groupby() }}", "line 1, column 12: groupby needs attribute")]
    // Python: ZeroDivisionError: integer division or modulo by zero
    [InlineData("{{ [1, 2] | slice(0) | list }}", "line 1, column 13: slice(0): integer division or modulo by zero")]
    // Python: TypeError: 'int' object is not iterable
    [InlineData("{{ 5 | batch(2) | list }}", "line 1, column 8: filter 'batch' is not supported on an integer")]
    // Python: TypeError: removeprefix() argument must be str, not int
    [InlineData("{{ 'abc'.removeprefix(1) }}", "line 1, column 9: removeprefix() takes one string by position, got an integer")]
    // Python: TypeError: 'str' object cannot be interpreted as an integer
    [InlineData("{{ 'abc'.zfill('5') }}", "line 1, column 9: zfill() takes one integer by position, got a string")]
    // Python: TypeError: str.removeprefix() takes no keyword arguments
    [InlineData("{{ 'abc'.removeprefix(prefix='a') }}", "line 1, column 9: removeprefix() takes no keyword arguments")]
    // Python: [3, nan, 1] (its sort compares neighbours first; where nan lands is what the algorithm compared); refused
    [InlineData("{{ [3, 'nan' | float, 1] | sort }}", "line 1, column 28: sorting a nan key is not supported")]
    [InlineData("{{ [[2], [1], ['nan' | float], [0]] | groupby(0) }}", "line 1, column 39: sorting a nan key is not supported")]
    // Each item of groupby and batch is a step: 101 of 100,000 items pass the budget of 10^7 (they ran within it)
    [InlineData("{% for i in range(101) %}{% set g = range(100000) | batch(100) %}{% endfor %}", "rendering takes more than 10000000 steps")]
    [InlineData("{% for i in range(101) %}{% set g = range(100000) | groupby(0, default=0) %}{% endfor %}", "rendering takes more than 10000000 steps")]
    // So is each item any filter reads of a list or mapping: 101 sorts, joins or uniques of 100,000 items pass it (a loop of
    // 100,000 sorts of as many items ran for hours within the evaluations counted)
    [InlineData("{% for i in range(101) %}{% set g = range(100000) | sort %}{% endfor %}", "rendering takes more than 10000000 steps")]
    [InlineData("{% for i in range(101) %}{% set g = range(100000) | join %}{% endfor %}", "rendering takes more than 10000000 steps")]
    [InlineData("{% for i in range(101) %}{% set g = range(100000) | unique | list %}{% endfor %}", "rendering takes more than 10000000 steps")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    // groupby and batch read each item of a list once, as sort does, so they meet the budget where sort meets it: 99
    // loops over 100,000 items pass and 100 do not. Each item was counted twice (as read, and as grouped or batched),
    // so batch and groupby were refused from 50 loops on.
    [Theory]
    [InlineData("sort")]
    [InlineData("batch(2)")]
    [InlineData("groupby(0, default=0)")]
    public void Groupby_and_batch_count_each_item_once(string filter)
    {
        string Loops(int n) => $"{{% set xs = range(100000) %}}{{% for i in range({n}) %}}{{% set g = xs | {filter} %}}{{% endfor %}}ok";
        Assert.Equal("ok", Render(Loops(99)));
        var e = Assert.Throws<ChatTemplateException>(() => Render(Loops(100)));
        Assert.Contains("rendering takes more than 10000000 steps", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Groupby_and_batch_of_a_string_count_each_character()
    {
        // A string's characters are counted where they are grouped or batched (Iterated counts a list's items only).
        string Loops(int n, string filter) => $"{{% set s = 'a' * 100000 %}}{{% for i in range({n}) %}}{{% set g = s | {filter} %}}{{% endfor %}}ok";
        foreach (string filter in new[] { "batch(2)", "groupby(0, default=0)" })
        {
            Assert.Equal("ok", Render(Loops(99, filter)));
            var e = Assert.Throws<ChatTemplateException>(() => Render(Loops(100, filter)));
            Assert.Contains("rendering takes more than 10000000 steps", e.Message, StringComparison.Ordinal);
        }
    }
}
