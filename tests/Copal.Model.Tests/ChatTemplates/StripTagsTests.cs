using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>striptags</c> (MarkupSafe 3's <c>Markup.striptags</c>: comments and tags removed, whitespace collapsed,
/// then Python's <c>html.unescape</c>), which the renderer refused. Every expected text is what Jinja2 3.1.6 renders
/// from the same template (tools/chat-templates/python-check.py's environment), written beside it as Python's ascii()
/// shows it; Python's error is written beside each refusal. Named entities past the six the renderer decodes are
/// refused rather than read otherwise than Python's HTML5 table reads them.
/// </summary>
public sealed class StripTagsTests
{
    private static string Render(string template) => new ChatTemplate(template).Render([], addGenerationPrompt: false);

    [Theory]
    // Python: x & y z|ab-->c|a < b|link<3 AB\xa0.|5|None|||a<!-- x
    [InlineData("{{ '<b>x</b> &amp; <!-- c -->  y\n z' | striptags }}|{{ 'a<!-->b-->c' | striptags }}|{{ 'a < b' | striptags }}|{{ '<a href=\"x\">link</a>&lt;3 &#65;&#x42;&nbsp;.' | striptags }}|{{ 5 | striptags }}|{{ none | striptags }}|{{ x | striptags }}|{{ '  ' | striptags }}|{{ 'a<!-- x' | striptags }}",
        "x & y z|ab-->c|a < b|link<3 AB\u00A0.|5|None|||a<!-- x")]
    // Python: \r|"'\ufffd|['']
    [InlineData("{{ '&#13;' | striptags }}|{{ '&quot;&apos;&#0;' | striptags }}|{{ ['<b>'] | striptags }}", "\r|\"'\uFFFD|['']")]
    // Python: AxAA\ufffd\ufffd\ufffd&#x;&#;|tab here
    [InlineData("{{ '&#65x&#X41;&#0065;&#xD800;&#1114112;&#11;&#65534;&#99999999999;&#x;&#;' | striptags }}|{{ 'tab\there' | striptags }}", "AxAA\uFFFD\uFFFD\uFFFD&#x;&#;|tab here")]
    // Python: xz|b|c|ac>d (a cut joins what is kept to the rest into a new opening, which MarkupSafe's loop then finds)
    [InlineData("{{ 'x<!<!---->--y-->z' | striptags }}|{{ '<<!-- -->!-- a -->b' | striptags }}|{{ '<!-<!---->->c' | striptags }}|{{ 'a<<b>c>d' | striptags }}", "xz|b|c|ac>d")]
    public void Renders_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Strips_sixteen_million_characters_of_tags_in_one_pass()
    {
        // MarkupSafe rebuilds the string for each tag it cuts; done so here, 5M tags in 15M characters ran for hours.
        string tags = string.Concat(Enumerable.Repeat("<a>", 2_500_000));
        Assert.Equal("x", new ChatTemplate("{{ t | striptags }}").Render([], addGenerationPrompt: false, tools: null,
            extra: new Dictionary<string, object?> { ["t"] = tags + "x" + tags }));
    }

    [Theory]
    // Python: TypeError: do_striptags() takes 1 positional argument but 2 were given
    [InlineData("{{ '<p>Tom</p>' | striptags(true) }}", "line 1, column 19: striptags takes at most 0 arguments (), got 1")]
    // Python: R&D (no HTML5 name starts D); refused: the renderer holds no table of HTML5's names
    [InlineData("{{ 'R&D' | striptags }}", "line 1, column 12: striptags of text with the HTML entity '&D' is not supported")]
    // Python: \u20ac (Windows-1252); refused
    [InlineData("{{ '&#128;' | striptags }}", "line 1, column 15: striptags of text with the character reference '&#128' is not supported")]
    public void Refused_naming_the_reason(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
