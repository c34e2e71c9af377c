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
    // Python: \u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178\u20ac\u0178\u2013 (Windows-1252, as HTML5 reads &#128;..&#159;)
    [InlineData("{{ '&#128;&#129;&#130;&#131;&#132;&#133;&#134;&#135;&#136;&#137;&#138;&#139;&#140;&#141;&#142;&#143;&#144;&#145;&#146;&#147;&#148;&#149;&#150;&#151;&#152;&#153;&#154;&#155;&#156;&#157;&#158;&#159;&#x80&#X9f;&#0150' | striptags }}",
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178\u20AC\u0178\u2013")]
    // Python: A|A (4,300 decimal digits, Python's int() limit, and any number of hexadecimal ones)
    [InlineData("{{ ('&#' ~ '0' * 4298 ~ '65;') | striptags }}|{{ ('&#x' ~ '0' * 5000 ~ '41;') | striptags }}", "A|A")]
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
    // Python: ValueError: Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits (the
    // renderer read it as past U+10FFFF and wrote U+FFFD)
    [InlineData("{{ ('&#' ~ '1' * 4301 ~ ';') | striptags }}", "line 1, column 32: striptags of text with a character reference of 4301 decimal digits (Python's int() refuses more than 4300: ValueError)")]
    public void Refused_naming_the_reason(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
