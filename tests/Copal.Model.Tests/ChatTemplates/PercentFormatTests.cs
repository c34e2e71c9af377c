using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Python's printf-style <c>text % values</c>, which Jinja2 evaluates as Python does and the renderer refused (the
/// reference lacks it): conversions, flags, width and precision, <c>%(key)s</c>, a tuple or one value on the right,
/// floats written from their exact value with ties to even. Every expected text is what Jinja2 3.1.6 renders from the
/// same template (tools/chat-templates/python-check.py's environment); Python's error is written beside each refusal.
/// </summary>
public sealed class PercentFormatTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: |None|x|x|x|x
    [InlineData("{{ '%s|%s' % (x, none) }}|{{ 'x' % x }}|{{ 'x' % [1] }}|{{ 'x' % {} }}|{{ 'x' % () }}",
        "|None|x|x|x|x")]
    // Python: [1, 2]|{'a': 1}|(1, 2)|é|'é'|True and None
    [InlineData("{{ '%s' % [1, 2] }}|{{ '%s' % {'a': 1} }}|{{ '%s' % ((1, 2),) }}|{{ '%s' % '\u00e9' }}|{{ '%r' % '\u00e9' }}|{{ '%s and %r' % (true, none) }}",
        "[1, 2]|{'a': 1}|(1, 2)|\u00e9|'\u00e9'|True and None")]
    // Python: x-2|1
    [InlineData("{{ '%(a)s-%(b)d' % {'a': 'x', 'b': 2.7} }}|{{ '%(a)s' % {'a': 1, 'b': 2} }}",
        "x-2|1")]
    // Python:   3.1|42    |+5| 5|-0042|ff|0XFF|0o10|1.234568e+04|0.000123|1e+20|100000|Az|'a'|%|he|   7|2.50
    [InlineData("{{ '%5.1f|%-6d|%+d|% d|%05d|%x|%#X|%#o|%e|%.3g|%g|%g|%c%c|%r|%%|%.2s|%*d|%.*f' % (3.14159, 42, 5, 5, -42, 255, 255, 8, 12345.678, 0.0001234, 1e20, 100000, 65, 'z', 'a', 'hello', 4, 7, 2, 2.5) }}",
        "  3.1|42    |+5| 5|-0042|ff|0XFF|0o10|1.234568e+04|0.000123|1e+20|100000|Az|'a'|%|he|   7|2.50")]
    // Python: 0.12|0|2|0.2|-0.000000|1.235e+08|1.000000E-300|1e-05|1E-05|1.00000|1.23457e+08|1e+01|3.|    3.1416|3.14e+04  |+2.2|-003.142|3.142   |
    [InlineData("{{ '%.2f|%.0f|%.0f|%.1f|%f|%.3e|%E|%g|%G|%#g|%g|%.0e|%#.0f|%10.4f|%-10.2e|%+.1f|%08.3f|%-8.3f|' % (0.125, 0.5, 1.5, 0.25, -0.0, 123456789, 1e-300, 0.00001, 1e-5, 1.0, 123456789.0, 9.5, 3.0, 3.14159265, 31415.9, 2.25, -3.14159, 3.14159) }}",
        "0.12|0|2|0.2|-0.000000|1.235e+08|1.000000E-300|1e-05|1E-05|1.00000|1.23457e+08|1e+01|3.|    3.1416|3.14e+04  |+2.2|-003.142|3.142   |")]
    // Python: 3|-3|1|42|9007199254740991|-ff|-10|BEE|005|+0042|-3   |
    [InlineData("{{ '%d|%d|%i|%u|%d|%x|%o|%X|%.3d|%+05d|%-5d|' % (3.7, -3.7, true, 42, 9007199254740991, -255, -8, 3054, 5, 42, -3) }}",
        "3|-3|1|42|9007199254740991|-ff|-10|BEE|005|+0042|-3   |")]
    // Python: 5|   ab|ab   |x|0.10000000000000000555|0.10000000000000001|6.666666666666666e-01|1e+06|1e+07|0.0001|1e+16|123|a   |b  | c
    [InlineData("{{ '%ld|%5s|%-5s|%.1s' % (5, 'ab', 'ab', 'xyz') }}|{{ '%.20f|%.17g|%.15e' % (0.1, 0.1, 2.0 / 3) }}|{{ '%g|%g|%g|%g|%g' % (999999.5, 9999995.0, 0.000099999995, 1e16, 123.0) }}|{{ '%*s|%-*s|%*s' % (-4, 'a', 3, 'b', 2, 'c') }}",
        "5|   ab|ab   |x|0.10000000000000000555|0.10000000000000001|6.666666666666666e-01|1e+06|1e+07|0.0001|1e+16|123|a   |b  | c")]
    // Python: inf|-inf|nan|INF|  inf|00inf|+inf
    [InlineData("{{ '%f|%e|%g|%F|%5.1f|%05f|%+f' % (1e308 * 10, -1e308 * 10, 1e308 * 10 - 1e308 * 10, 1e308 * 10, 1e308 * 10, 1e308 * 10, 1e308 * 10) }}",
        "inf|-inf|nan|INF|  inf|00inf|+inf")]
    // Python: +5|+5|[5    ]|[    a]|[2]|[2]|[2e+00]|😀|05|0x00ff|[  😀]|😀|2e+01|4.940656e-324 (+ over space, - over 0, 0 pads
    // numbers only, a negative * precision is 0, '.' alone is 0, widths and precisions count code points, %.0g is one
    // digit, the smallest subnormal's digits)
    [InlineData("{{ '% +d|%+ d|[%-05d]|[%05s]|[%.*f]|[%.f]|[%.e]|%.1s|%.2d|%#06x|[%3s]|%c|%.0g|%e' % (5, 5, 5, 'a', -2, 1.5, 2.5, 1.5, '\U0001F600x', 5, 255, '\U0001F600', '\U0001F600', 25, 5e-324) }}",
        "+5|+5|[5    ]|[    a]|[2]|[2]|[2e+00]|\U0001F600|05|0x00ff|[  \U0001F600]|\U0001F600|2e+01|4.940656e-324")]
    public void Percent_formatting_is_pythons(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: UndefinedError: 'x' is undefined
    [InlineData("{{ '%(a)s' % x }}", "line 1, column 12: '%' formatting: key 'a' of an undefined")]
    // Python: TypeError: not all arguments converted during string formatting
    [InlineData("{% set ns = namespace(a=1) %}{{ 'x' % ns }}", "line 1, column 37: '%' formatting: not all arguments converted during string formatting")]
    // Python: TypeError: not all arguments converted during string formatting
    [InlineData("{{ 'x' % 5 }}", "line 1, column 8: '%' formatting: not all arguments converted during string formatting")]
    // Python: TypeError: not all arguments converted during string formatting
    [InlineData("{{ 'x' % 'a' }}", "line 1, column 8: '%' formatting: not all arguments converted during string formatting")]
    // Python: TypeError: not enough arguments for format string
    [InlineData("{{ '%s %s' % [1, 2] }}", "line 1, column 12: '%' formatting: not enough arguments for format string")]
    // Python: TypeError: not enough arguments for format string
    [InlineData("{{ '%(a)s %s' % {'a': 1} }}", "line 1, column 15: '%' formatting: not enough arguments for format string")]
    // Python: TypeError: list indices must be integers or slices, not str
    [InlineData("{{ '%(a)s' % [1] }}", "line 1, column 12: '%' formatting: key 'a' of a list")]
    // Python: KeyError: 'c'
    [InlineData("{{ '%(c)s' % {'a': 'x'} }}", "line 1, column 12: '%' formatting: no key 'c' in the mapping (Python's KeyError)")]
    // Python: TypeError: %d format: a real number is required, not str
    [InlineData("{{ '%d' % 'a' }}", "line 1, column 9: '%' formatting: %d format: a real number is required, not string")]
    // Python: TypeError: %x format: an integer is required, not float
    [InlineData("{{ '%x' % 2.5 }}", "line 1, column 9: '%' formatting: %x format: an integer is required, not float")]
    // Python: TypeError: must be real number, not str
    [InlineData("{{ '%f' % 'a' }}", "line 1, column 9: '%' formatting: must be real number, not string")]
    // Python: TypeError: %d format: a real number is required, not NoneType
    [InlineData("{{ '%d' % none }}", "line 1, column 9: '%' formatting: %d format: a real number is required, not none")]
    // Python: TypeError: not enough arguments for format string
    [InlineData("{{ '%s %s' % (1,) }}", "line 1, column 12: '%' formatting: not enough arguments for format string")]
    // Python: TypeError: not all arguments converted during string formatting
    [InlineData("{{ '%s' % (1, 2) }}", "line 1, column 9: '%' formatting: not all arguments converted during string formatting")]
    // Python: ValueError: unsupported format character 'z' (0x7a) at index 1
    [InlineData("{{ '%z' % 1 }}", "line 1, column 9: '%' formatting: unsupported format character 'z' (0x7a) at index 1")]
    // Python: ValueError: incomplete format
    [InlineData("{{ 'abc %' % 1 }}", "line 1, column 12: '%' formatting: incomplete format")]
    // Python: TypeError: %c requires int or char
    [InlineData("{{ '%c' % 'ab' }}", "line 1, column 9: '%' formatting: %c requires an integer or a single character, not a string")]
    // Python: OverflowError: %c arg not in range(0x110000)
    [InlineData("{{ '%c' % 1114112 }}", "line 1, column 9: '%' formatting: %c arg not in range(0x110000) or a surrogate")]
    public void What_python_refuses_is_refused(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
