using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>Whitespace control and lexing, as Hugging Face configures Jinja (trim_blocks and lstrip_blocks on), checked over random text.</summary>
public class LexerWhitespaceTests
{
    private static readonly ChatTemplateMessage[] s_none = [];
    private const string Alphabet = " \t\n\r\u00a0\u3000abcXYZ019%#-+*=|.,:()[]'\"\\éß日😀";
    private const string Spaces = " \t\n\r\u00a0\u2028\ufeff";

    private static string Render(string template) => new ChatTemplate(template).Render(s_none, addGenerationPrompt: false);

    private static string RandomText(Random rng, string alphabet, int maxLength)
    {
        var chars = new char[rng.Next(maxLength + 1)];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[rng.Next(alphabet.Length)];
        }
        return new string(chars);
    }

    [Fact]
    public void Text_without_tags_renders_unchanged_except_one_trailing_newline()
    {
        var rng = new Random(1234);
        for (int n = 0; n < 500; n++)
        {
            string text = RandomText(rng, Alphabet, 40);
            string expected = text.EndsWith('\n') ? text[..^1] : text;
            Assert.Equal(expected, Render(text));
        }
    }

    [Fact]
    public void Dash_markers_strip_all_whitespace_on_their_side_and_only_there()
    {
        var rng = new Random(99);
        for (int n = 0; n < 300; n++)
        {
            string a = RandomText(rng, Spaces, 6), b = RandomText(rng, Spaces, 6);
            Assert.Equal("xy", Render($"x{a}{{%- if true -%}}{b}y{{% endif %}}"));
            Assert.Equal("xy", Render($"x{a}{{{{- '' -}}}}{b}y"));
            Assert.Equal("xy", Render($"x{a}{{#- comment -#}}{b}y"));
            string inline = RandomText(rng, " \t", 6);
            Assert.Equal($"x{inline}y", Render($"x{inline}{{% if true -%}}{b}y{{% endif %}}"));
        }
    }

    [Fact]
    public void Trim_blocks_removes_the_newline_after_a_block_tag_but_not_after_an_expression()
    {
        Assert.Equal("a\nb", Render("{% if true %}\na\n{% endif %}\nb"));
        Assert.Equal("x\ny", Render("{{ 'x' }}\ny"));
        Assert.Equal("xy", Render("{# c #}\nx{% set v = 1 %}\ny"));
        Assert.Equal("\n x", Render("{% if true %}\n\n x{% endif %}"));
    }

    [Fact]
    public void Lstrip_blocks_removes_indentation_before_a_block_tag_only_at_line_start()
    {
        Assert.Equal("x", Render("  \t{% if true %}x{% endif %}"));
        Assert.Equal("a x", Render("a {% if true %}x{% endif %}"));
        Assert.Equal("  x", Render("  {{ 'x' }}"));
        Assert.Equal("l1\nx", Render("l1\n    {% if true %}x{% endif %}"));
    }

    [Fact]
    public void String_literals_take_the_reference_escapes_and_adjacent_literals_join()
    {
        Assert.Equal("a\n\t\"'\\é A", Render("{{ 'a\\n\\t\\\"\\'\\\\\\u00e9 \\x41' }}"));
        Assert.Equal("ab", Render("{{ 'a' \"b\" }}"));
    }

    [Theory]
    [InlineData("{{ 1.0 }}", "1.0")]
    [InlineData("{{ 0.1 + 0.2 }}", "0.30000000000000004")]
    [InlineData("{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ 7 / 2 }}|{{ 6 / 2 }}", "3|-4|1|3.5|3.0")]
    [InlineData("{{ 2 ** 10 }}|{{ 2 ** -1 }}", "1024|0.5")]
    [InlineData("{{ 1 - -1 }}|{{ -(3) }}|{{ 3-1 }}", "2|-3|2")]
    // Values print as Python's str() (Jinja2: True|None|[1, 'a', None]|{'k': 1.5}), except that none alone prints
    // nothing, as the reference prints it (a null message content is not the word None).
    [InlineData("{{ true }}|{{ none }}|{{ [1, 'a', none] }}|{{ {'k': 1.5} }}", "True||[1, 'a', None]|{'k': 1.5}")]
    // == as Python compares (Jinja2: True|False|False|False), not JavaScript's loose == (true|true|true|true).
    [InlineData("{{ 1 == 1.0 }}|{{ '1' == 1 }}|{{ none == undefined_name }}|{{ [] == '' }}", "True|False|False|False")]
    [InlineData("{{ 'a' ~ 1 ~ 1.0 }}|{{ 'a' + 2.5 }}", "a11.0|a2.5")]
    [InlineData("{{ 'hello world'[1:4] }}|{{ [1,2,3,4][::-1] }}|{{ [1,2,3][-1] }}|{{ 'abc'[-1] }}", "ell|[4, 3, 2, 1]|3|c")]
    [InlineData("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.first }}{{ loop.revindex0 }},{% endfor %}", "1True2,2False1,3False0,")]
    [InlineData("{% for x in [1,2,3] %}{{ loop.revindex }}{{ loop.length }}{{ loop.last }},{% endfor %}", "33False,23False,13True,")]
    [InlineData("{% for x in [] %}a{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for x in [1] %}a{% else %}empty{% endfor %}", "a")]
    [InlineData("{% for x in [1,2,3,4] if x is odd %}{{ x }}{% endfor %}", "13")]
    [InlineData("{% for x in [1,2,3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}", "13")]
    // The text before break is kept, as Jinja2 keeps it (Jinja2: 12; the reference dropped it and wrote 1).
    [InlineData("{% for x in [1,2,3] %}{{ x }}{% if x == 2 %}{% break %}{% endif %}{% endfor %}", "12")]
    [InlineData("{% set ns = namespace(n=0) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "3")]
    [InlineData("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}{% endfor %}{{ n }}", "0")]
    [InlineData("{% set a, b = [1, 2] %}{{ b }}{{ a }}", "21")]
    [InlineData("{% set t %}x{{ 1 }}{% endset %}[{{ t }}]", "[x1]")]
    [InlineData("{% macro m(a, b='d') %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, b=2) }}", "1-d 1-2")]
    [InlineData("{{ ' a b  c '.split() }}|{{ 'a,b,,c'.split(',', 1) }}|{{ '  x\\n'.strip() }}", "['a', 'b', 'c']|['a', 'b,,c']|x")]
    [InlineData("{{ 'aXbX'.replace('X', '-') }}|{{ 'abc' | replace('b', 'B') }}|{{ 'hello wORLD'.title() }}", "a-b-|aBc|Hello WORLD")]
    [InlineData("{{ {'b': 1, 'a': 2} | items | list }}|{{ {'a': 1}.get('z', 'none') }}|{{ 'k' in {'k': 1} }}", "[('b', 1), ('a', 2)]|none|True")]
    [InlineData("{{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort | join(',') }}|{{ [1, 1, 2] | unique | length }}", "[1, 2, 3]|A,b,c|2")]
    [InlineData("{{ {'x': [1, {'y': 'é'}]} | tojson(indent=2) }}", "{\n  \"x\": [\n    1,\n    {\n      \"y\": \"é\"\n    }\n  ]\n}")]
    [InlineData("{{ undefined_name | default('d') }}|{{ '' | default('d', true) }}|{{ x is defined }}|{{ none is none }}", "d|d|False|True")]
    [InlineData("{{ 'x' if false }}|{{ 'a' if 0 else 'b' }}|{{ 1 and 0 }}|{{ 0 or 'z' }}", "|b|0|z")]
    [InlineData("{{ 'abc' is lower }}|{{ 'aBc' is lower }}|{{ [1, 2, 3] | first }}|{{ [1, 2, 3] | last }}", "True|False|1|3")]
    [InlineData("{{ 2.7 | int }}|{{ 'a\\nb' | indent }}|{{ {'a': {'b': 1}}['a']['b'] }}", "2|a\n    b|1")]
    public void Expressions_and_statements_match_the_reference(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData(1e21, "1e+21")]
    [InlineData(1.5e-7, "1.5e-7")]
    [InlineData(123456789012345680000d, "123456789012345680000")]
    [InlineData(0.000001, "0.000001")]
    [InlineData(-0.0, "0")]
    [InlineData(100d, "100")]
    [InlineData(-2.5e-10, "-2.5e-10")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    public void Numbers_print_as_javascript_does(double x, string expected)
    {
        Assert.Equal(expected, JsText.Number(x));
    }
}
