using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>round(precision=0, method='common')</c>, <c>min</c> and <c>max(case_sensitive=False, attribute=None)</c>
/// and Python's repetition of lists, tuples and strings (<c>[0] * 3</c>), which the renderer refused (the reference
/// lacks them). Every expected text is what Jinja2 3.1.6 renders from the same template
/// (tools/chat-templates/python-check.py's environment); Python's error is written beside each refusal.
/// </summary>
public sealed class RoundMinMaxTests
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
                    new Dictionary<string, object?> { ["name"] = "a", ["age"] = 3 },
                },
            });

    [Theory]
    // Python: 2.0|4.0|0.12|0.38|2.67|1.0|-0.0|-2.0 (ties to even on the exact binary value: 0.125 is a tie, 2.675 is
    // below one)
    [InlineData("{{ 2.5|round }}|{{ 3.5|round }}|{{ 0.125|round(2) }}|{{ 0.375|round(2) }}|{{ 2.675|round(2) }}|{{ 1.005|round(2) }}|{{ -0.4|round }}|{{ -2.5|round }}",
        "2.0|4.0|0.12|0.38|2.67|1.0|-0.0|-2.0")]
    // Python: 5|5|20|20|-20|1200|0|1|0 (an integer stays one)
    [InlineData("{{ 5|round }}|{{ 5|round(2) }}|{{ 15|round(-1) }}|{{ 25|round(-1) }}|{{ -25|round(-1) }}|{{ 1234|round(-2) }}|{{ 5|round(-30) }}|{{ true|round }}|{{ false|round(1) }}",
        "5|5|20|20|-20|1200|0|1|0")]
    // Python: 2.0|3.0|-3.0|3.141|3.15|1200.0|5.0|20.0
    [InlineData("{{ 2.7|round(0, 'floor') }}|{{ 2.1|round(0, 'ceil') }}|{{ -2.5|round(method='floor') }}|{{ 3.14159|round(3, 'floor') }}|{{ 3.14159|round(2, 'ceil') }}|{{ 1234.5|round(-2, 'floor') }}|{{ 5|round(1, 'ceil') }}|{{ 15|round(-1, 'ceil') }}",
        "2.0|3.0|-3.0|3.141|3.15|1200.0|5.0|20.0")]
    // Python: 1e+300|120.0|0|2|7|1.23e-10|1e+22|12345.6789 (a none precision is Python's round(x), an integer)
    [InlineData("{{ 1e300|round(-300) }}|{{ 123.456|round(-1) }}|{{ 0.5|round(none) }}|{{ 1.5|round(none) }}|{{ 7|round(none) }}|{{ 1.23456789e-10|round(12) }}|{{ 1e22|round(2) }}|{{ 12345.6789|round(400) }}",
        "1e+300|120.0|0|2|7|1.23e-10|1e+22|12345.6789")]
    // Python: 1.0|0.0|-0.0|1.5|1e+22 (no precision is 0, not none; past 323 places the smallest subnormal rounds to 0;
    // far left a negative rounds to -0.0; ±22 are the last floor and ceil precisions taken)
    [InlineData("{{ 1.25|round }}|{{ 5e-324|round(310) }}|{{ -1.5|round(-400) }}|{{ 1.5|round(22, 'floor') }}|{{ 1.5|round(-22, 'ceil') }}",
        "1.0|0.0|-0.0|1.5|1e+22")]
    public void Round_is_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: 1|3|c|c|B|{'name': 'b', 'age': 3}|{'name': 'A', 'age': 1}|{'name': 'A', 'age': 1} (the first of equal
    // items; strings lowered unless case_sensitive)
    [InlineData("{{ xs|min }}|{{ xs|max }}|{{ 'aBc'|max }}|{{ 'aBc'|max(true) }}|{{ 'aBc'|min(case_sensitive=true) }}|{{ users|max(attribute='age') }}|{{ users|min(attribute='name') }}|{{ users|min(attribute='name', case_sensitive=true) }}",
        "1|3|c|c|B|{'name': 'b', 'age': 3}|{'name': 'A', 'age': 1}|{'name': 'A', 'age': 1}")]
    // Python: |False|b|2.5|1|True|😀|！ (empty: undefined; a mapping's keys; strings by code point)
    [InlineData("{{ []|min }}|{{ ([]|max) is defined }}|{{ {'b':1,'a':2}|max }}|{{ [1, 2.5, true]|max }}|{{ [1, true]|max }}|{{ [true, 1]|min }}|{{ ['\uff01', '\U0001F600']|max }}|{{ ['\uff01', '\U0001F600']|min }}",
        "|False|b|2.5|1|True|\U0001F600|\uff01")]
    // Python: [2]|[1, 2]|(1, 'a')|[1]
    [InlineData("{{ [[1], [2]]|max }}|{{ [[1, 2], [1]]|max }}|{{ [(1, 'b'), (1, 'a')]|min }}|{{ [[1], [1]]|max }}", "[2]|[1, 2]|(1, 'a')|[1]")]
    // Python: B|A|{'k': [1], 'n': 1}|2.0|ab|a|['a', 'ab'] (strings lowered unless case-sensitive; equal lists keep the
    // first; nan is neither greater nor less; a prefix is less than the longer string)
    [InlineData("{{ ['B', 'a']|max }}|{{ ['b', 'A']|min }}|{{ [{'k': [1], 'n': 1}, {'k': [1], 'n': 2}]|max(attribute='k') }}|{{ [1.0, 'nan'|float, 2.0]|max }}|{{ ['ab', 'a']|max }}|{{ ['ab', 'a']|min }}|{{ ['ab', 'a']|sort }}",
        "B|A|{'k': [1], 'n': 1}|2.0|ab|a|['a', 'ab']")]
    public void Min_and_max_are_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: (1, 2, 1, 2)[0, 0, 0][1, 1]abab[1][]x[]()
    [InlineData("{{ (1, 2) * 2 }}{{ [0] * 3 }}{{ 2 * [1] }}{{ 'ab' * 2 }}{{ [1] * true }}{{ [1] * -1 }}{{ true * 'x' }}{{ [] * 5 }}{{ (1,) * 0 }}", "(1, 2, 1, 2)[0, 0, 0][1, 1]abab[1][]x[]()")]
    public void Lists_tuples_and_strings_repeat_as_in_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: type str doesn't define __round__ method
    [InlineData("{{ 'x'|round }}", "line 1, column 8: round of a string: Python's round() takes a number")]
    // Python: TypeError: type Undefined doesn't define __round__ method
    [InlineData("{{ x|round }}", "line 1, column 6: round of an undefined")]
    // Python: TypeError: 'float' object cannot be interpreted as an integer
    [InlineData("{{ 2.5|round(1.0) }}", "line 1, column 8: round takes precision as an integer, got a float")]
    // Python: FilterArgumentError: method must be common, ceil or floor
    [InlineData("{{ 2.5|round(1, 'up') }}", "line 1, column 8: round's method must be common, ceil or floor")]
    // Python: TypeError: do_round() got multiple values for argument 'precision'
    [InlineData("{{ 2.5|round(1, method='floor', precision=2) }}", "line 1, column 8: round got precision twice")]
    // Python: TypeError: unsupported operand type(s) for ** or pow(): 'int' and 'NoneType'
    [InlineData("{{ 2.5|round(none, 'floor') }}", "line 1, column 8: round takes precision as an integer, got a none")]
    // Python: TypeError: '>' not supported between instances of 'str' and 'int'
    [InlineData("{{ [1, 'a']|max }}", "line 1, column 13: max cannot compare an integer with a string")]
    // Python: TypeError: '<' not supported between instances of 'NoneType' and 'NoneType'
    [InlineData("{{ [none, none]|min }}", "line 1, column 17: min cannot compare a none with a none")]
    // Python: TypeError: '>' not supported between instances of 'tuple' and 'list'
    [InlineData("{{ [[1], (2,)]|max }}", "line 1, column 16: max cannot compare a list with a tuple")]
    // Python: UndefinedError: 'dict object' has no attribute 'missing'
    [InlineData("{{ users|max(attribute='missing') }}", "line 1, column 10: max cannot compare an undefined with an undefined")]
    // Python: TypeError: 'int' object is not iterable
    [InlineData("{{ 5|max }}", "line 1, column 6: filter 'max' is not supported on an integer")]
    // Python: TypeError: can't multiply sequence by non-int of type 'float'
    [InlineData("{{ [1] * 2.0 }}", "line 1, column 8: operator '*' is not defined between a list and a float")]
    // Python: TypeError: can't multiply sequence by non-int of type 'list'
    [InlineData("{{ [1] * [2] }}", "line 1, column 8: operator '*' is not defined between a list and a list")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
