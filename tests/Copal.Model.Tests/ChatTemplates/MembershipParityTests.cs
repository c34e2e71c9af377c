using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// <c>in</c> and <c>not in</c> as Python takes them where the renderer refused: a number, boolean, none or tuple looked
/// up in a mapping is never one of its string keys, and an undefined value is in a list only where the list holds an
/// undefined value (Jinja2's Undefined equals only an Undefined) and in no mapping. Found by the random differential
/// (the most frequent refusal where Python renders). Every expected text is what Jinja2 3.1.6 renders from the same
/// template (tools/chat-templates/python-check.py's environment); Python's error is written beside each refusal.
/// </summary>
public sealed class MembershipParityTests
{
    private static string Render(string template) => new ChatTemplate(template).Render([], addGenerationPrompt: false);

    [Fact]
    public void Membership_renders_as_python()
    {
        // Python: False|True|False|False|False|False|True|False|False|True|True|False
        Assert.Equal("False|True|False|False|False|False|True|False|False|True|True|False", Render(
            "{{ 1 in {'a': 1} }}|{{ 1 not in {'1': 1} }}|{{ true in {'a': 1} }}|{{ 1.5 in {} }}|{{ none in {'a': 1} }}|{{ u in [1, 2] }}"
            + "|{{ u not in [1] }}|{{ u in {'a': 1} }}|{{ u in u2 }}|{{ none in [none] }}|{{ u in [u2] }}|{{ (1,) in {} }}"));
    }

    [Theory]
    // Python: TypeError: unhashable type: 'list'
    [InlineData("{{ [1] in {} }}", "line 1, column 8: operator 'in' cannot look a list up in a mapping (Python's TypeError: unhashable)")]
    // Python: TypeError: unhashable type: 'dict'
    [InlineData("{{ {'a': 1} not in {} }}", "operator 'not in' cannot look a mapping up in a mapping")]
    // Python: TypeError: unhashable type: 'list'
    [InlineData("{{ (1, [2]) in {} }}", "operator 'in' cannot look a tuple up in a mapping")]
    // Python: TypeError: 'in <string>' requires string as left operand, not Undefined
    [InlineData("{{ u in 'abc' }}", "line 1, column 6: operator 'in' on an undefined value ('u' is undefined)")]
    // Python: TypeError: argument of type 'NoneType' is not iterable
    [InlineData("{{ 1 in none }}", "operator 'in' on a none value")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
