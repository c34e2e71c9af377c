using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Tuple literals and unpacking as Jinja2 reads them, where the renderer refused what Jinja2 renders: the empty tuple
/// <c>()</c> and a trailing comma (<c>(1,)</c>, <c>(1, 2,)</c>), and unpacking (in <c>for a, b in ...</c> and
/// <c>set a, b = ...</c>) of whatever Python iterates: a mapping gives its keys, a string its characters. Every
/// expected text is what Jinja2 3.1.6 renders from the same template (tools/chat-templates/python-check.py's
/// environment); Python's error is written beside each refusal.
/// </summary>
public sealed class TupleUnpackingParityTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: ()|(1,)|('a', 2)|0|[1]|((),)|(1, 2)|[(), (3,)]
    [InlineData("{{ () }}|{{ (1,) }}|{{ ('a', 2) }}|{{ () | length }}|{{ (1,) | tojson }}|{{ ((),) }}|{{ (1, 2,) }}|{{ [(), (3,)] }}",
        "()|(1,)|('a', 2)|0|[1]|((),)|(1, 2)|[(), (3,)]")]
    // Python: 1|True|True|(None,)
    [InlineData("{% set t = (1,) %}{{ t[0] }}|{{ () is sequence }}|{{ not () }}|{{ (none,) }}", "1|True|True|(None,)")]
    // Python: (1, 2)|()|[1, 2] (tuples add to a tuple).
    [InlineData("{{ (1,) + (2,) }}|{{ () + () }}|{{ [1] + [2] }}", "(1, 2)|()|[1, 2]")]
    // Python: (2, 3)|(3, 2, 1)|True|()|[2] (a tuple's slice is a tuple; the renderer gave a list).
    [InlineData("{{ (1, 2, 3)[1:] }}|{{ (1, 2, 3)[::-1] }}|{{ (1, 2)[1:] == (2,) }}|{{ (1, 2)[5:] }}|{{ [1, 2][1:] }}", "(2, 3)|(3, 2, 1)|True|()|[2]")]
    public void Tuple_literals_are_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TemplateSyntaxError: unexpected ',' (both).
    [InlineData("{{ (,) }}", "line 1, column 5: unexpected ',' in an expression")]
    [InlineData("{{ (1,,) }}", "line 1, column 7: unexpected ',' in an expression")]
    public void A_comma_without_an_item_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Python: xy|badc (a mapping unpacks into its keys, a string into its characters).
    [InlineData("{% for k, v in [{'x': 1, 'y': 2}] %}{{ k }}{{ v }}{% endfor %}|{% for a, b in ['ab', 'cd'] %}{{ b }}{{ a }}{% endfor %}", "xy|badc")]
    // Python: yx|pq
    [InlineData("{% set a, b = 'xy' %}{{ b }}{{ a }}|{% set a, b = {'p': 1, 'q': 2} %}{{ a }}{{ b }}", "yx|pq")]
    // Python: 🙂é (by code point, as Python's str iterates).
    [InlineData("{% set a, b = '\u00e9\U0001F642' %}{{ b }}{{ a }}", "\U0001F642\u00e9")]
    public void Unpacking_takes_what_python_iterates(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: ValueError: too many values to unpack (expected 2)
    [InlineData("{% for a, b in ['abc'] %}{% endfor %}", "line 1, column 4: 'for' unpacks 3 values into 2 names")]
    // Python: ValueError: not enough values to unpack (expected 2, got 1)
    [InlineData("{% for a, b in [{'x': 1}] %}{% endfor %}", "line 1, column 4: 'for' unpacks 1 value into 2 names")]
    // Python: TypeError: cannot unpack non-iterable int object
    [InlineData("{% for a, b in [1] %}{% endfor %}", "line 1, column 4: cannot unpack an integer into the loop variables")]
    // Python: ValueError: too many values to unpack (expected 2)
    [InlineData("{% set a, b = 'xyz' %}", "line 1, column 4: 'set' unpacks 3 values into 2 names")]
    // Python: TypeError: can only concatenate list (not "tuple") to list, and the reverse.
    [InlineData("{{ [1] + (2,) }}", "line 1, column 8: operator '+' is not defined between a list and a tuple")]
    [InlineData("{{ (1,) + [2] }}", "line 1, column 9: operator '+' is not defined between a tuple and a list")]
    public void Unpacking_the_wrong_count_or_kind_or_adding_a_list_to_a_tuple_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Nested unpacking, as Jinja2 reads a for or set target: a tuple's items may be tuples (<c>for (a, b), c in ...</c>),
    /// which the renderer refused (it unpacked into names only).
    /// </summary>
    [Theory]
    // Python: 123;xy4;
    [InlineData("{% for (a, b), c in [([1, 2], 3), ('xy', 4)] %}{{ a }}{{ b }}{{ c }};{% endfor %}", "123;xy4;")]
    // Python: p=3;q=7;
    [InlineData("{% for k, (x, y) in {'p': [1, 2], 'q': [3, 4]} | items %}{{ k }}={{ x + y }};{% endfor %}", "p=3;q=7;")]
    // Python: 123
    [InlineData("{% set (a, b), c = [1, 2], 3 %}{{ a }}{{ b }}{{ c }}", "123")]
    // Python: 12xy
    [InlineData("{% set a, (b, (c, d)) = 1, (2, 'xy') %}{{ a }}{{ b }}{{ c }}{{ d }}", "12xy")]
    // Python: 1
    [InlineData("{% for ((a),) in [[1]] %}{{ a }}{% endfor %}", "1")]
    public void Nested_targets_unpack_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: cannot unpack non-iterable int object
    [InlineData("{% for (a, b), c in [(1, 2)] %}{% endfor %}", "line 1, column 4: cannot unpack an integer into the loop variables")]
    // Python: ValueError: not enough values to unpack (expected 2, got 1)
    [InlineData("{% for (a, b), c in [([1], 2)] %}{% endfor %}", "line 1, column 4: 'for' unpacks 1 value into 2 names")]
    // Python: TypeError: cannot unpack non-iterable int object
    [InlineData("{% set (a, b), c = 1, 2 %}", "line 1, column 4: cannot unpack an integer in 'set'")]
    // Python: TemplateAssertionError: Can't assign to special loop variable in for-loop target
    [InlineData("{% for (loop, b), c in [[[1, 2], 3]] %}{% endfor %}", "'loop' cannot be assigned inside a for loop")]
    public void Nested_targets_that_python_cannot_unpack_are_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
