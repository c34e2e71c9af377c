using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>int(default=0, base=10)</c> and <c>float(default=0.0)</c> filters: <c>int(value, base)</c> of a string
/// (Python's whitespace, sign, underscores between digits, the base's prefix), else <c>int(float(value))</c>, else the
/// default, for any value but undefined. The renderer read a string's leading number as JavaScript's parseInt
/// (<c>'12abc'</c> was 12), floored floats, took no base and refused none, lists and mappings. Every expected text is
/// what Jinja2 3.1.6 renders from the same template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class IntFilterTests
{
    private static string Render(string template, IReadOnlyDictionary<string, object?>? extra = null) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null, extra);

    [Theory]
    // Python: 0|12|5|0|0|1000|0|0|10
    [InlineData("{{ '12abc'|int }}|{{ ' 12 '|int }}|{{ '+5'|int }}|{{ '- 5'|int }}|{{ ''|int }}|{{ '1_000'|int }}|{{ '1__000'|int }}|{{ '_1'|int }}|{{ '010'|int }}", "0|12|5|0|0|1000|0|0|10")]
    // Python: 0|26|26|26|26|10|5|15|35|12|1|16 (base 1 is no base: int() raises and float('12') is read; false is base 0)
    [InlineData("{{ '0x1A'|int }}|{{ '0x1A'|int(0, 16) }}|{{ '1a'|int(base=16) }}|{{ ' 0X_1a '|int(0, 16) }}|{{ '0x1A'|int(0, 0) }}|{{ '010'|int(0, 0) }}|{{ '0b101'|int(0, 2) }}|{{ '0o17'|int(0, 8) }}|{{ 'z'|int(0, 36) }}|{{ '12'|int(0, 1) }}|{{ '1.5'|int(0, 16) }}|{{ '0x10'|int(0, false) }}", "0|26|26|26|26|10|5|15|35|12|1|16")]
    // Python: 42|-42|1000|-1|2|0|0|7 (a float string is int(float(s)), truncated toward zero; nan and inf give the default)
    [InlineData("{{ '42.23'|int }}|{{ '-42.9'|int }}|{{ '1e3'|int }}|{{ -1.5|int }}|{{ 2.7|int }}|{{ 'nan'|int }}|{{ 'inf'|int }}|{{ '1e400'|int(7) }}", "42|-42|1000|-1|2|0|0|7")]
    // Python: 0|1|0|0|0|0|7|7|d|1|3|12
    [InlineData("{{ none|int }}|{{ true|int }}|{{ false|int }}|{{ [1]|int }}|{{ m|int }}|{{ (1, 2)|int }}|{{ 'abc'|int(7) }}|{{ 'abc'|int(default=7) }}|{{ none|int('d') }}|{{ 1.5|int('d') }}|{{ 3|int(base=16) }}|{{ '\u0661\u0662'|int }}", "0|1|0|0|0|0|7|7|d|1|3|12")]
    // Python: 0.0|0.0|0.0|2.5|d|1.0
    [InlineData("{{ none|float }}|{{ [1]|float }}|{{ m|float }}|{{ none|float(2.5) }}|{{ 'x'|float('d') }}|{{ true|float }}", "0.0|0.0|0.0|2.5|d|1.0")]
    public void Int_and_float_are_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["m"] = new Dictionary<string, object?> { ["a"] = 1 } }));
    }

    [Fact]
    public void Only_pythons_number_whitespace_is_stripped()
    {
        // Python's int() and float() strip the six ASCII spaces and the Unicode ones past ASCII, but not the separators
        // U+001C to U+001F, which str.isspace() counts: Python: 0|7|0.0|12|12|1.5
        var extra = new Dictionary<string, object?>
        {
            ["a"] = "\u001c12", ["b"] = "12\u001f", ["c"] = "\u001e1.5", ["d"] = "\v12\f", ["e"] = "\u300012\u0085", ["f"] = "\u20281.5\u00a0",
        };
        Assert.Equal("0|7|0.0|12|12|1.5", Render("{{ a|int }}|{{ b|int(7) }}|{{ c|float }}|{{ d|int }}|{{ e|int }}|{{ f|float }}", extra));
    }

    [Fact]
    public void A_nan_float_gives_the_default_and_an_infinity_is_refused_as_python_raises()
    {
        // Python: int(nan) raises ValueError, which do_int turns into the default (3); int(inf) raises OverflowError,
        // which it does not catch: "cannot convert float infinity to integer".
        var extra = new Dictionary<string, object?> { ["nan"] = double.NaN, ["inf"] = double.NegativeInfinity };
        Assert.Equal("3|0", Render("{{ nan|int(3) }}|{{ nan|int }}", extra));
        var e = Assert.Throws<ChatTemplateException>(() => Render("{{ inf|int }}", extra));
        Assert.Contains("int of -inf", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{ '99999999999999999999'|int }}", "beyond ±(2^53 - 1)")]
    [InlineData("{{ nothing|int }}", "filter 'int' is not supported on an undefined")]
    public void Past_exact_integers_and_undefined_are_refused(string template, string message)
    {
        // Python writes 99999999999999999999 (the reference cannot hold it exactly) and raises UndefinedError.
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
