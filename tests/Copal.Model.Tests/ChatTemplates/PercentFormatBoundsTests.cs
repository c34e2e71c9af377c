using System.Globalization;
using System.Numerics;
using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// <c>%</c> formatting at its edges: a width or precision given by <c>*</c> beyond the render's size budget is refused
/// as a written one is (it was clamped, so the text came out shorter than Python's), a precision far past a double's
/// exact digits is written without computing 10^precision (a template could spend hours of CPU on one conversion), and
/// <c>%c</c> of a boolean is the character of the integer it is. Expected texts are Jinja2 3.1.6's
/// (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class PercentFormatBoundsTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python renders 16777217 characters; Copal's budget is 2^24, so both are refused as the written width is.
    [InlineData("{{ ('%*d' % (16777217, 1))|length }}")]
    [InlineData("{{ ('%-*d' % (-16777217, 1))|length }}")]
    [InlineData("{{ ('%.*f' % (16777217, 1.5))|length }}")]
    public void A_star_width_or_precision_past_the_budget_is_refused(string template)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains("'%' formatting: width or precision too big", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_width_of_exactly_the_budget_is_written()
    {
        // Python: 16777216|16777216 (2^24 characters: the budget itself, by * and written)
        Assert.Equal("16777216|16777216", Render("{{ ('%*d' % (16777216, 1))|length }}|{{ ('%16777216d' % 1)|length }}"));
    }

    [Fact]
    public void A_precision_near_the_budget_is_written_in_full()
    {
        // Python: 16777002|16777006|16777001 (before, the first conversion computed 10^16777000 and ran for hours)
        Assert.Equal("16777002|16777006|16777001",
            Render("{{ ('%.16777000f' % 1.5)|length }}|{{ ('%.16777000e' % 1.5)|length }}|{{ ('%#.16777000g' % 1.5)|length }}"));
    }

    [Fact]
    public void Digits_past_a_doubles_exact_value_are_zeros()
    {
        // 5e-324 is exactly 5^1074 / 10^1074 (751 significant digits); the largest double is (2^53 - 1) * 2^971.
        // Python's texts are these: '%.1100f', '%.800e' and '%.1200f' of them, and '%.900g' % 0.1.
        string tiny = BigInteger.Pow(5, 1074).ToString(CultureInfo.InvariantCulture);
        string largest = ((BigInteger.One << 53) - 1 << 971).ToString(CultureInfo.InvariantCulture);
        Assert.Equal("0." + tiny.PadLeft(1074, '0') + new string('0', 26), Render("{{ '%.1100f' % 5e-324 }}"));
        Assert.Equal(tiny[..1] + "." + tiny[1..].PadRight(800, '0') + "e-324", Render("{{ '%.800e' % 5e-324 }}"));
        Assert.Equal(largest + "." + new string('0', 1200), Render("{{ '%.1200f' % 1.7976931348623157e308 }}"));
        Assert.Equal("0.1000000000000000055511151231257827021181583404541015625", Render("{{ '%.900g' % 0.1 }}"));
    }

    [Fact]
    public void A_boolean_is_the_character_of_its_integer()
    {
        // Python: '\x01\x00' (bool is an int, and %c takes an int)
        Assert.Equal("\u0001\u0000", Render("{{ '%c%c' % (true, false) }}"));
    }
}
