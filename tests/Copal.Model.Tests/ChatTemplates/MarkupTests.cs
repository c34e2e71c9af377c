using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>escape</c> (<c>e</c>) and <c>safe</c>, which give MarkupSafe's <c>Markup</c> in the sandbox transformers
/// uses (autoescape off): HTML-escaped text that is not escaped again, that escapes a plain string added to it, and that
/// a list writes as <c>Markup('...')</c>. The renderer refused <c>escape</c> and took <c>safe</c> as doing nothing, so
/// <c>('a'|safe) + '&lt;'</c> wrote <c>a&lt;</c> where Python writes <c>a&amp;lt;</c>. Every expected text is what Jinja2
/// 3.1.6 renders from the same template (tools/chat-templates/python-check.py's environment); Python's error is written
/// beside each refusal.
/// </summary>
public sealed class MarkupTests
{
    private static string Render(string template) => new ChatTemplate(template).Render([], addGenerationPrompt: false);

    [Theory]
    // Python: &lt;&amp;&gt;&#34;&#39;|&lt;|[Markup('&lt;'), Markup('a')]|&lt;<|a&lt;|&lt;a|&lt;&lt;|5|None|None|[1, &#39;&lt;&#39;]||{'k': Markup('v')}
    [InlineData("{{ '<&>\"\\'' | e }}|{{ '<'|e|e }}|{{ ['<'|e, 'a'|safe] }}|{{ '<'|e ~ '<' }}|{{ ('a'|safe) + '<' }}|{{ '<' + ('a'|safe) }}|{{ ('<'|e) + ('<'|e) }}|{{ 5|e }}|{{ none|e }}|{{ none|safe }}|{{ [1,'<']|e }}|{{ x|e }}|{{ {'k': 'v'|escape} }}",
        "&lt;&amp;&gt;&#34;&#39;|&lt;|[Markup('&lt;'), Markup('a')]|&lt;<|a&lt;|&lt;a|&lt;&lt;|5|None|None|[1, &#39;&lt;&#39;]||{'k': Markup('v')}")]
    // Python: &LT;&lt;|&lt;&lt;|;&lt;|&<|;tl&&lt;|&lt;&lt;|  a  &lt;|A<|  a&lt;|aa&lt;|a&lt;|a&lt;|+lt;<|&.l.t.;<|a&lt;|<|"&lt;"|5
    [InlineData("{{ ('<'|e)|upper + '<' }}|{{ ('<'|e)|string + '<' }}|{{ ('<'|e)|last + '<' }}|{{ ('<'|e)|first + '<' }}|{{ ('<'|e)|reverse + '<' }}|{{ ('<'|e)|trim + '<' }}|{{ ('a'|e)|center(5) + '<' }}|{{ ('a'|e)|title + '<' }}|{{ ('a'|e)|indent(2, true) + '<' }}|{{ ('a'|e) * 2 + '<' }}|{{ ('ab'|e)[0] + '<' }}|{{ ('ab'|e)[0:1] + '<' }}|{{ ('<'|e)|replace('&','+') + '<' }}|{{ ('<'|e)|join('.') + '<' }}|{{ ('a'|e)|default('x') + '<' }}|{{ (''|e)|default('<', true) }}|{{ ('<'|e)|tojson }}|{{ ('a<'|e)|length }}",
        "&LT;&lt;|&lt;&lt;|;&lt;|&<|;tl&&lt;|&lt;&lt;|  a  &lt;|A<|  a&lt;|aa&lt;|a&lt;|a&lt;|+lt;<|&.l.t.;<|a&lt;|<|\"&lt;\"|5")]
    // Python: True|True|True|True|True|['a', Markup('b')]|abcdefghij&lt;|a|['a', Markup('B')]|[Markup('a')]
    [InlineData("{{ ('a'|e) == 'a' }}|{{ ('<'|e) is string }}|{{ ('a'|e) in ['a'] }}|{{ ('a'|e) in {'a': 1} }}|{{ ('a'|e) < 'b' }}|{{ ['b'|e, 'a']|sort }}|{{ ('abcdefghij'|e)|truncate(5) + '<' }}|{{ 'a'|e if ('a'|e) else 'no' }}|{{ ['B'|e, 'a']|sort }}|{{ ['a'|e, 'A']|unique|list }}",
        "True|True|True|True|True|['a', Markup('b')]|abcdefghij&lt;|a|['a', Markup('B')]|[Markup('a')]")]
    // Python: [Markup('a')]|[1]|[{'k': Markup('A')}] (a test of select, reject or selectattr sees a Markup as a string)
    [InlineData("{{ ['a'|e, 1]|select('string')|list }}|{{ ['a'|e, 1]|reject('string')|list }}|{{ [{'k': 'A'|e}]|selectattr('k', 'upper')|list }}",
        "[Markup('a')]|[1]|[{'k': Markup('A')}]")]
    public void Renders_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: unsupported operand type(s) for +: 'Markup' and 'int'
    [InlineData("{{ ('a'|e) + 1 }}", "line 1, column 12: operator '+' is not defined between Jinja2's Markup and an integer")]
    // Python: &lt; (Markup's % escapes its values); refused, not modelled
    [InlineData("{{ ('%s'|e) % '<' }}", "line 1, column 13: operator '%' is not supported on Jinja2's Markup")]
    // Python: A (Markup's methods escape their arguments); refused, not modelled
    [InlineData("{{ ('a'|e).upper() }}", "'upper' of Jinja2's Markup (the text escape or safe gives) is not supported")]
    // Python: empty (Markup.strip escapes the characters given)
    [InlineData("{{ ('a'|e)|trim('a') }}", "line 1, column 12: filter 'trim' is not supported on Jinja2's Markup")]
    // Python: a&lt;b (a Markup separator escapes the items)
    [InlineData("{{ ['a', 'b']|join('<'|e) }}", "line 1, column 15: join's d as Jinja2's Markup (the text escape or safe gives) is not supported")]
    // Python: TypeError: escape() takes 1 positional argument but 2 were given
    [InlineData("{{ 'a'|e(1) }}", "line 1, column 8: filter 'e' takes no argument")]
    public void Refused_naming_the_reason(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
