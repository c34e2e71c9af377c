using System.Text.Json;
using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Where the renderer still followed the reference's JavaScript and Jinja2, set up as Python transformers sets it up,
/// writes other text or refuses: a string's <c>float</c>, <c>~</c> with none or undefined, <c>strip</c> given an
/// undefined value, <c>unique</c>, the order of a mapping's keys, and subscripts Python cannot take (undefined). Every expected text is what Jinja2 3.1.6 renders
/// from the same template and input (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class PythonParityTests
{
    private static string Render(string template, IReadOnlyDictionary<string, object?>? extra = null) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null, extra);

    /// <summary>Python's float() of the string: nan and infinities, underscores between digits, whitespace; anything else the default, not a leading number.</summary>
    [Theory]
    [InlineData("{{ 'nan'|float }}|{{ ' NaN '|float }}|{{ 'inf'|float }}|{{ '-Infinity'|float }}|{{ '-nan'|float }}|{{ 'infinit'|float }}", "nan|nan|inf|-inf|nan|0.0")]
    [InlineData("{{ 'x'|float }}|{{ '12abc'|float }}|{{ '1_000.5'|float }}|{{ ' 2.5e3 '|float }}|{{ '.5'|float }}|{{ '5.'|float }}|{{ '+1E2'|float }}", "0.0|0.0|1000.5|2500.0|0.5|5.0|100.0")]
    [InlineData("{{ '1__0'|float }}|{{ '_1'|float }}|{{ ''|float }}|{{ '0x10'|float }}|{{ '\u00a012\u2003'|float }}|{{ '\u0661\u0662'|float }}|{{ 'x'|float(2.5) }}|{{ 'nan'|float(1) }}", "0.0|0.0|0.0|0.0|12.0|12.0|2.5|nan")]
    [InlineData("{{ 'nan'|float == 'nan'|float }}|{{ ('nan'|float) | tojson }}|{{ ('-inf'|float) | tojson }}|{{ [('nan'|float)] }}|{{ 'x' ~ ('inf'|float) }}|{{ 'inf'|float > 1e300 }}", "False|NaN|-Infinity|[nan]|xinf|True")]
    public void A_strings_float_is_pythons_float(string template, string expected)
    {
        Assert.Equal(expected, Render(template.Replace("1e300", "10.0 ** 300", StringComparison.Ordinal)));
    }

    [Fact]
    public void Tilde_writes_none_as_None_and_undefined_as_nothing()
    {
        // The reference refused both; Jinja2 concatenates str() of each side.
        Assert.Equal("xNone|Nonex|x|aNone1||NoneNone", Render("{{ 'x' ~ none }}|{{ none ~ 'x' }}|{{ 'x' ~ nothing }}|{{ 'a' ~ none ~ 1 }}|{{ nothing ~ nothing }}|{{ none ~ none }}"));
    }

    [Theory]
    [InlineData("{{ ' x'.lstrip(nothing) }}", "lstrip() takes a string of characters to remove or none, got an undefined value")]
    [InlineData("{{ ' x '.strip(m.missing) }}", "strip() takes a string of characters to remove or none, got an undefined value")]
    public void Strip_given_an_undefined_value_is_refused_as_python_refuses_it(string template, string message)
    {
        // str.lstrip(Undefined) is a TypeError in Python; the reference took undefined as none and stripped whitespace.
        var e = Assert.Throws<ChatTemplateException>(() => Render(template, new Dictionary<string, object?> { ["m"] = new Dictionary<string, object?>() }));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal("x|x ", Render("{{ ' x'.lstrip(none) }}|{{ ' x '.lstrip() }}"));
    }

    [Theory]
    [InlineData("{{ [1, true, 'A', 'a', 1.0, 2, none, none] | unique | list }}|{{ ['A', 'a', 'b'] | unique(case_sensitive=true) | list }}|{{ [1, 1] | unique(false) | list }}", "[1, 'A', 2, None]|['A', 'a', 'b']|[1]")]
    [InlineData("{{ [{'n': 'x', 'v': 1}, {'n': 'X', 'v': 2}] | unique(attribute='n') | list }}|{{ [{'n': 'x'}, {'m': 1}, {'k': 2}] | unique(attribute='n') | list }}", "[{'n': 'x', 'v': 1}]|[{'n': 'x'}, {'m': 1}]")]
    [InlineData("{{ [(1, 2), (1, 2.0)] | unique | list }}|{{ ['\u00df', 'SS', 'ss'] | unique | list }}|{{ [] | unique | list }}", "[(1, 2)]|['\u00df', 'SS']|[]")]
    public void Unique_keeps_the_first_of_pythons_equal_values(string template, string expected)
    {
        // The reference compared as JavaScript: 1 and true, 'A' and 'a' stayed apart.
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Unique_goes_over_a_strings_characters_and_a_mappings_keys()
    {
        // Python: ['a', 'b']|['a', 'A', 'b', 'B']|['a', 'B']|['a', 'B', 'b']|[]|[]|['é', '🙂'] (Jinja2 iterates the value;
        // undefined iterates as nothing). The renderer refused all but a list.
        Assert.Equal("['a', 'b']|['a', 'A', 'b', 'B']|['a', 'B']|['a', 'B', 'b']|[]|[]|['\u00e9', '\U0001F642']",
            Render("{{ 'aAbBa'|unique|list }}|{{ 'aAbBa'|unique(true)|list }}|{{ m|unique|list }}|{{ m|unique(case_sensitive=true)|list }}|{{ nothing|unique|list }}|{{ ''|unique|list }}|{{ '\u00e9\U0001F642\u00e9'|unique|list }}",
                new Dictionary<string, object?> { ["m"] = new Dictionary<string, object?> { ["a"] = 1, ["B"] = 2, ["b"] = 3 } }));
    }

    [Theory]
    [InlineData("{{ [[1], [1]] | unique | list }}", "unique() of a list: a list cannot be compared so (Python: unhashable)")]
    [InlineData("{{ [{'a': 1}] | unique | list }}", "unique() of a list: a mapping cannot be compared so (Python: unhashable)")]
    public void Unique_of_lists_or_mappings_is_refused_as_python_refuses_them(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A mapping keeps its keys in the order given, as a Python dict (and json.loads) keeps them: the renderer put
    /// keys that look like integers first, JavaScript's Object.entries order, which the reference sees.
    /// </summary>
    [Fact]
    public void A_mappings_keys_keep_the_order_given()
    {
        const string Template = "{{ m | tojson }}|{{ m }}|{{ 'a' + m }}|{{ m.keys() | list }}|{% for k, v in m.items() %}{{ k }}{% endfor %}|{{ m | items | list }}";
        const string Expected = "{\"b\": 1, \"2\": 2, \"a\": [1], \"0\": {\"z\": 1, \"10\": 2}}|{'b': 1, '2': 2, 'a': [1], '0': {'z': 1, '10': 2}}"
            + "|a{\"b\": 1, \"2\": 2, \"a\": [1], \"0\": {\"z\": 1, \"10\": 2}}|['b', '2', 'a', '0']|b2a0|[('b', 1), ('2', 2), ('a', [1]), ('0', {'z': 1, '10': 2})]";
        const string Json = "{\"b\": 1, \"2\": 2, \"a\": [1], \"0\": {\"z\": 1, \"10\": 2}}";
        foreach (object input in new object[]
        {
            JsonDocument.Parse(Json).RootElement,
            System.Text.Json.Nodes.JsonNode.Parse(Json)!,
            new Dictionary<string, object?> { ["b"] = 1, ["2"] = 2, ["a"] = new[] { 1 }, ["0"] = new Dictionary<string, object?> { ["z"] = 1, ["10"] = 2 } },
        })
        {
            Assert.Equal(Expected, Render(Template, new Dictionary<string, object?> { ["m"] = input }));
        }
    }

    [Fact]
    public void A_subscript_python_cannot_take_is_undefined()
    {
        // Jinja2's sandbox turns a failed item or attribute lookup into an undefined value: an index into none, a number
        // or a boolean, a list or string indexed by none or a float, a mapping by a key that is not a string. The
        // renderer, as the reference, refused them. Python: |||False|False|False|False|False|False|False|False|False|D
        Assert.Equal("|||False|False|False|False|False|False|False|False|False|D", Render(
            "{{ none[0] }}|{{ none.x }}|{{ none['a'] }}|{{ none[0] is defined }}|{{ 5[0] is defined }}|{{ {'a': 1}[1] is defined }}|{{ [1][1.5] is defined }}|{{ true[0] is defined }}|{{ [1][none] is defined }}|{{ 's'[none] is defined }}|{{ {'a': 1}[none] is defined }}|{{ {'a': 1}[[1]] is defined }}|{{ none[0] | default('D') }}"));
    }

    [Fact]
    public void A_boolean_indexes_a_list_or_string_as_the_integer_it_is()
    {
        // Python's bool is an int, so [1, 2][true] is [1, 2][1]; a mapping's key true is still no string key. Since
        // subscripts Python cannot take became undefined, these wrote nothing (before, they were refused).
        // Python: 2|1|b|2|2|False
        Assert.Equal("2|1|b|2|2|False", Render(
            "{{ [1, 2][true] }}|{{ [1, 2][false] }}|{{ 'ab'[true] }}|{{ [1, 2][-true] }}|{{ (1, 2)[true] }}|{{ {'a': 1}[true] is defined }}"));
    }
}
