using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Python's <c>str.format</c> as Jinja2's sandbox runs it (<c>'{} {}'.format(a, b)</c>, indexed and named fields, a
/// field's <c>[key]</c> and <c>.name</c>, <c>!s</c>/<c>!r</c>, and format specs for strings, integers, booleans and
/// floats), which the renderer refused as an unknown method. Every expected text is what Jinja2 3.1.6 renders from the
/// same template (tools/chat-templates/python-check.py's environment); Python's error is written beside each refusal.
/// </summary>
public sealed class FormatMethodTests
{
    private static string Render(string template) => new ChatTemplate(template).Render([], addGenerationPrompt: false);

    [Theory]
    // Python: 1 a|x2x|None-'q'|   ab|ab   | ab  |**ab**|00042|+42| 42|1,234,567|1_234_567|0xff|0o10|0b101|FF|A
    [InlineData("{{ '{} {}'.format(1, 'a') }}|{{ '{0}{1}{0}'.format('x', 2) }}|{{ '{a}-{b!r}'.format(a=none, b='q') }}|{{ '{:>5}|{:<5}|{:^5}|{:*^6}'.format('ab', 'ab', 'ab', 'ab') }}|{{ '{:05}|{:+d}|{: d}|{:,}|{:_}|{:#x}|{:#o}|{:#b}|{:X}|{:c}'.format(42, 42, 42, 1234567, 1234567, 255, 8, 5, 255, 65) }}",
        "1 a|x2x|None-'q'|   ab|ab   | ab  |**ab**|00042|+42| 42|1,234,567|1_234_567|0xff|0o10|0b101|FF|A")]
    // Python: 3.14| 1.234e+03|0.0001|25.000000%|12.5%|1.500000E+00|1E+20|-0003.14|+   3.14|1,234,567.89
    [InlineData("{{ '{:.2f}|{:10.3e}|{:g}|{:%}|{:.1%}|{:E}|{:G}|{:08.2f}|{:=+8.2f}|{:,.2f}'.format(3.14159, 1234.5, 0.0001, 0.25, 0.125, 1.5, 1e20, -3.14159, 3.14159, 1234567.891) }}",
        "3.14| 1.234e+03|0.0001|25.000000%|12.5%|1.500000E+00|1E+20|-0003.14|+   3.14|1,234,567.89")]
    // Python: 1.0|   2.5|1e+16 |1e-05|  0.1
    [InlineData("{{ '{}|{:>6}|{:<6}|{}|{:5}'.format(1.0, 2.5, 1e16, 1e-5, 0.1) }}", "1.0|   2.5|1e+16 |1e-05|  0.1")]
    // Python: True|     1|0|1|         1|1.0
    [InlineData("{{ '{}|{:>6}|{:d}|{:x}'.format(true, true, false, true) }}|{{ '{:10}'.format(true) }}|{{ '{:.1f}'.format(true) }}", "True|     1|0|1|         1|1.0")]
    // Python: None|[1, 'a']|{'k': 1}||a0000|ab|3.000000|{}  {|abc|  x|5| None|  'a'
    [InlineData("{{ '{}|{}|{}|{}'.format(none, [1,'a'], {'k':1}, x) }}|{{ '{:05}'.format('a') }}|{{ '{:.2}'.format('abc') }}|{{ '{:f}'.format(3) }}|{{ '{{}}  {{'.format() }}|{{ '{:.3s}|{:>3.1}'.format('abcdef', 'xyz') }}|{{ '{:}'.format(5) }}|{{ '{!s:>5}|{!r:>5}'.format(none, 'a') }}",
        "None|[1, 'a']|{'k': 1}||a0000|ab|3.000000|{}  {|abc|  x|5| None|  'a'")]
    // Python: 3.|2.00000|1e+04|1.000000e+00|1.23e+06|1e-05|1.23457e+08|100%|3.000000e+00|2.00|10|75b_cd15|110_0100
    [InlineData("{{ '{:#.0f}|{:#g}|{:.0e}|{:#e}'.format(3.0, 2.0, 12345.0, 1.0) }}|{{ '{:.3g}|{:g}|{:g}|{:.0%}'.format(1234567.0, 1e-5, 123456789.0, 1.0) }}|{{ '{:e}|{:.2f}|{:g}'.format(3, 2, 10) }}|{{ '{:_x}|{:_b}'.format(123456789, 100) }}",
        "3.|2.00000|1e+04|1.000000e+00|1.23e+06|1e-05|1.23457e+08|100%|3.000000e+00|2.00|10|75b_cd15|110_0100")]
    // Python:  2.50  |+3    |7xxx|000ab|0x00ff|050.000%|15,000,000.0|1_234.5|1.2e+04
    [InlineData("{{ '{:^7.2f}|{:<+6}|{:x<4}|{:0>5}|{:#06x}|{:08.3%}'.format(2.5, 3, 7, 'ab', 255, 0.5) }}|{{ '{:,}'.format(1.5e7) }}|{{ '{:_}'.format(1234.5) }}|{{ '{:,.1e}'.format(12345.0) }}",
        " 2.50  |+3    |7xxx|000ab|0x00ff|050.000%|15,000,000.0|1_234.5|1.2e+04")]
    // Python: 1|1|6||b|{'x': 1}
    [InlineData("{{ '{0[x]}|{0.x}|{1[1]}|{0.y}|{k[a]}|{}'.format({'x': 1}, [5, 6], k={'a': 'b'}) }}", "1|1|6||b|{'x': 1}")]
    public void Renders_as_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: unsupported format string passed to NoneType.__format__
    [InlineData("{{ '{:5}'.format(none) }}", "line 1, column 10: str.format: unsupported format string passed to NoneType.__format__")]
    // Python: TypeError: unsupported format string passed to Undefined.__format__
    [InlineData("{{ '{:5}'.format(x) }}", "str.format: unsupported format string passed to Undefined.__format__")]
    // Python: ValueError: Unknown format code 'd' for object of type 'float'
    [InlineData("{{ '{:d}'.format(1.5) }}", "str.format: Unknown format code 'd' for object of type 'float'")]
    // Python: ValueError: Unknown format code 's' for object of type 'int'
    [InlineData("{{ '{:s}'.format(3) }}", "str.format: Unknown format code 's' for object of type 'int'")]
    // Python: ValueError: cannot switch from manual field specification to automatic field numbering
    [InlineData("{{ '{} {0}'.format(1) }}", "str.format: cannot switch from manual field specification to automatic field numbering")]
    // Python: IndexError: tuple index out of range
    [InlineData("{{ '{}'.format() }}", "str.format: IndexError: tuple index out of range (field 0, 0 given)")]
    // Python: ValueError: Single '{' encountered in format string
    [InlineData("{{ '{{}} {'.format() }}", "str.format: Single '{' encountered in format string")]
    // Python: ValueError: Single '}' encountered in format string
    [InlineData("{{ 'a}'.format() }}", "str.format: Single '}' encountered in format string")]
    // Python: ValueError: '=' alignment not allowed in string format specifier
    [InlineData("{{ '{:=5}'.format('a') }}", "str.format: '=' alignment not allowed in string format specifier")]
    // Python: ValueError: Sign not allowed in string format specifier
    [InlineData("{{ '{:+}'.format('a') }}", "str.format: Sign not allowed in string format specifier")]
    // Python: ValueError: Cannot specify ',' with 'x'.
    [InlineData("{{ '{:,x}'.format(5) }}", "str.format: Cannot specify ',' with 'x'.")]
    // Python: ValueError: Precision not allowed in integer format specifier
    [InlineData("{{ '{:.2d}'.format(5) }}", "str.format: Precision not allowed in integer format specifier")]
    // Python: ValueError: Unknown conversion specifier x
    [InlineData("{{ '{!x}'.format(1) }}", "str.format: Unknown conversion specifier x")]
    // Python: KeyError: 'k'
    [InlineData("{{ '{k}'.format(1) }}", "str.format: KeyError: 'k'")]
    // Python:     1 (a field nested in the spec); not modelled
    [InlineData("{{ '{:{}}'.format(1, 5) }}", "str.format: a field nested in the format spec ('{:{}}') is not supported")]
    // Python: 3.1 (a float's precision without a type is 'g'-like); not modelled
    [InlineData("{{ '{:.2}'.format(3.14159) }}", "str.format: a float's precision or '#' without a type is not supported")]
    // Python: 00,001,234 (the zero padding grouped too); not modelled
    [InlineData("{{ '{:010,}'.format(1234) }}", "str.format: zero padding with ',' grouping is not supported")]
    // Python: '\xe9'; not modelled
    [InlineData("{{ '{!a}'.format('\u00e9') }}", "str.format: the conversion !a (Python's ascii()) is not supported")]
    // Python: 5 (C locale); refused, as the locale is the process's
    [InlineData("{{ '{:n}'.format(5) }}", "str.format: the format code 'n' (the locale's number) is not supported")]
    // Python: a width of 999999999 spaces and more (allocated); refused past the render's budget
    [InlineData("{{ '{:999999999}'.format(1) }}", "str.format: a width or precision of 999999999 grows past 16777216 characters")]
    public void Refused_naming_the_reason(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
