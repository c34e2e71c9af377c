using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>map(filter_name, *args, **kwargs)</c>: the named filter, given the rest of the arguments, applied to each
/// item (the renderer took only <c>map(attribute=...)</c>, as the reference). Expected texts are what Jinja2 3.1.6
/// renders from the same template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class MapFilterTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Fact]
    public void Map_applies_a_named_filter_with_its_arguments()
    {
        // Python: a,b|[1, 5]|['1.5']|['{"a": 1}']|['Xb']|[35]|['A', 'B']|[]
        Assert.Equal("a,b|[1, 5]|['1.5']|['{\"a\": 1}']|['Xb']|[35]|['A', 'B']|[]", Render(
            "{{ ['a ', ' b']|map('trim')|join(',') }}|{{ ['1', 'x']|map('int', 5)|list }}|{{ [1.5]|map('string')|list }}|{{ [{'a': 1}]|map('tojson')|list }}"
            + "|{{ ['ab']|map('replace', 'a', 'X')|list }}|{{ ['z']|map('int', base=36)|list }}|{{ ['b', 'A']|map('upper')|sort|list }}|{{ []|map('upper')|list }}"));
    }

    [Theory]
    // map(attribute=...) over any items (what an item lacks is undefined, or the default, which may come first; a none
    // default is none), an integer attribute as an index; map, select, reject, selectattr and rejectattr of undefined,
    // none or another false value give nothing, of a string its characters and of a mapping its keys (all refused).
    // Python: [Undefined, Undefined]|['d', 3]|['d', 3]|[1]|[Undefined, Undefined]|[1]|['a']|0|
    [InlineData("{{ [1, 2]|map(attribute='x')|list }}|{{ [1, {'x': 3}]|map(attribute='x', default='d')|list }}|{{ [1, {'x': 3}]|map(default='d', attribute='x')|list }}|{{ [[1, 2]]|map(attribute=0)|list }}|{{ [1,2]|map(attribute='x', default=none)|list }}|{{ [{'a':{'b':1}}]|map(attribute='a.b')|list }}|{{ ['ab']|map(attribute='0')|list }}|{{ [3,1]|map(attribute='x', default=0)|sum }}|{{ x|map(attribute='a')|join(',') }}",
        "[Undefined, Undefined]|['d', 3]|['d', 3]|[1]|[Undefined, Undefined]|[1]|['a']|0|")]
    // Python: []|[]|[]|[]|[]|[]|[]|[]|['A', 'B']|['K']|['a']
    [InlineData("{{ y|map('upper')|list }}|{{ y|select|list }}|{{ y|reject('none')|list }}|{{ y|map(attribute='a')|list }}|{{ y|selectattr('a')|list }}|{{ y|rejectattr('a')|list }}|{{ none|map('upper')|list }}|{{ ''|select|list }}|{{ 'ab'|map('upper')|list }}|{{ {'k': 1}|map('upper')|list }}|{{ 'ab'|select('eq', 'a')|list }}",
        "[]|[]|[]|[]|[]|[]|[]|[]|['A', 'B']|['K']|['a']")]
    public void Map_and_select_take_what_jinja2_iterates(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: 'int' object is not iterable
    [InlineData("{{ 5|map('upper')|list }}", "filter 'map(...)' is not supported on an integer")]
    // Python: FilterArgumentError: Unexpected keyword argument 'x'
    [InlineData("{{ [1]|map(attribute='a', x=1)|list }}", "map(attribute=...) takes no argument 'x' (it takes attribute, default)")]
    // Python raises TemplateRuntimeError: No filter named 'nosuch'. / No filter named 5.
    [InlineData("{{ [1]|map('nosuch')|list }}", "filter 'nosuch' is not supported on an integer")]
    [InlineData("{{ [1]|map(5)|list }}", "map takes a filter's name (a string) or attribute=..., got an integer")]
    public void Map_with_no_such_filter_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
