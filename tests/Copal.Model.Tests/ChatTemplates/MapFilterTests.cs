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
    // Python raises TemplateRuntimeError: No filter named 'nosuch'. / No filter named 5.
    [InlineData("{{ [1]|map('nosuch')|list }}", "filter 'nosuch' is not supported on an integer")]
    [InlineData("{{ [1]|map(5)|list }}", "map takes a filter's name (a string) or attribute=..., got an integer")]
    public void Map_with_no_such_filter_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
