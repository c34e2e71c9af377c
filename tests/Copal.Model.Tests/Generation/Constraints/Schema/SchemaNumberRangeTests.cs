using System.Globalization;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Integers and numbers held to minimum, maximum and their exclusive forms: every integer text of up to five digits
/// and every number of up to three digits and three decimals, either sign, against JsonSchema.Net's verdict (taken
/// whole exactly when valid), and every prefix the automaton takes can still end in range (no reply is led into a
/// number it cannot finish).
/// </summary>
public class SchemaNumberRangeTests
{
    public static TheoryData<string> Bounds => new()
    {
        """ "minimum": 1, "maximum": 100 """,
        """ "minimum": -40, "maximum": -3 """,
        """ "minimum": -7, "maximum": 12 """,
        """ "minimum": 0 """,
        """ "minimum": 250 """,
        """ "maximum": -15 """,
        """ "maximum": 7 """,
        """ "exclusiveMinimum": 9, "exclusiveMaximum": 1000 """,
        """ "minimum": 1.5, "maximum": 9.5 """,
        """ "minimum": 42, "maximum": 42 """,
        """ "minimum": 0, "maximum": 0 """,
        """ "exclusiveMinimum": -1, "maximum": 1 """,
    };

    public static TheoryData<string> NumberBounds => new()
    {
        """ "minimum": 0, "maximum": 1 """,
        """ "exclusiveMinimum": 0, "exclusiveMaximum": 1 """,
        """ "minimum": -1.5, "maximum": 2.25 """,
        """ "exclusiveMinimum": -0.125 """,
        """ "maximum": -0.5 """,
        """ "exclusiveMaximum": 0 """,
        """ "minimum": 0.001 """,
        """ "minimum": 3.5, "maximum": 3.5 """,
        """ "minimum": 99.9, "exclusiveMaximum": 120 """,
    };

    private static string Schema(string bounds, string type = "integer") =>
        $$$"""{"type":"object","properties":{"n":{"type":"{{{type}}}",{{{bounds}}}}},"required":["n"],"additionalProperties":false}""";

    private static IEnumerable<string> Numbers()
    {
        string[] fractions = ["", ".0", ".5", ".1", ".25", ".125", ".999", ".001", ".9"];
        foreach (int whole in Enumerable.Range(0, 125).Concat([250, 999]))
        {
            foreach (string fraction in fractions)
            {
                string text = whole.ToString(CultureInfo.InvariantCulture) + fraction;
                yield return text;
                yield return "-" + text;
            }
        }
    }

    [Theory]
    [MemberData(nameof(NumberBounds))]
    public void Each_number_is_taken_whole_exactly_when_the_reference_finds_it_in_range(string bounds)
    {
        CompiledSchema compiled = AssertVerdicts(Schema(bounds, "number"), Numbers());
        // An exponent could move the value anywhere: never written under a range.
        Assert.True(SchemaPrefixTests.Refusal(compiled, "{\"n\":1e0}", out _) >= 0);
    }

    [Theory]
    [MemberData(nameof(NumberBounds))]
    public void Every_number_prefix_taken_can_still_end_in_range(string bounds) => AssertNoDeadPrefix(Schema(bounds, "number"), "-0123456789.", 5, 8);

    [Fact]
    public void A_long_run_of_decimals_at_a_bound_ends_there_rather_than_strand()
    {
        // exclusiveMinimum 0: 0.000… may go on to a value above 0 but never be 0; past the most decimals taken, only a
        // value in range may be written, so the run stops where a digit other than 0 comes.
        CompiledSchema compiled = SchemaPrefixTests.Compile(Schema(""" "exclusiveMinimum": 0 """, "number"));
        var state = new SchemaPrefix(compiled);
        Assert.True(state.TryAdvance(Encoding.UTF8.GetBytes("{\"n\":0." + new string('0', NumberRange.MaxDecimals - 1))));
        SchemaPrefix zero = state, one = state;
        Assert.False(zero.TryAdvance((byte)'0'));
        Assert.True(one.TryAdvance((byte)'1'));
        Assert.True(one.TryAdvance((byte)'}'));
        Assert.True(one.IsComplete);
    }

    [Fact]
    public void Decimals_that_settle_the_value_in_range_are_no_longer_counted()
    {
        // 0.5 is inside [0, 1] whatever follows: 30 more decimals are taken; 0.000… above exclusiveMinimum 0 is not, and
        // its 18th 0 is refused (the value would have to end at 0).
        CompiledSchema settled = SchemaPrefixTests.Compile(Schema(""" "minimum": 0, "maximum": 1 """, "number"));
        Assert.Equal(-1, SchemaPrefixTests.Refusal(settled, "{\"n\":0.5" + new string('7', 30) + "}", out bool complete));
        Assert.True(complete);
        CompiledSchema open = SchemaPrefixTests.Compile(Schema(""" "exclusiveMinimum": 0, "maximum": 1 """, "number"));
        Assert.Equal(7 + NumberRange.MaxDecimals - 1, SchemaPrefixTests.Refusal(open, "{\"n\":0." + new string('0', 30) + "1}", out _));
        // -0.9… lies in (-1, -0.9] whatever follows, inside exclusiveMinimum -1: the bound is the end the digits never
        // reach, so 30 nines are taken as 30 sevens were above.
        CompiledSchema negative = SchemaPrefixTests.Compile(Schema(""" "exclusiveMinimum": -1, "maximum": 1 """, "number"));
        Assert.Equal(-1, SchemaPrefixTests.Refusal(negative, "{\"n\":-0." + new string('9', 30) + "}", out complete));
        Assert.True(complete);
    }

    private static IEnumerable<string> Integers()
    {
        for (int digits = 1; digits <= 5; digits++)
        {
            int from = digits == 1 ? 0 : (int)Math.Pow(10, digits - 1);
            int to = (int)Math.Pow(10, digits) - 1;
            // All of up to three digits; a spread of the longer ones around the bounds' sizes.
            IEnumerable<int> values = digits <= 3 ? Enumerable.Range(from, to - from + 1) : Enumerable.Range(0, 200).Select(i => from + (i * 7919 % (to - from + 1)));
            foreach (int v in values)
            {
                yield return v.ToString(CultureInfo.InvariantCulture);
                yield return "-" + v.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Each_integer_is_taken_whole_exactly_when_the_reference_finds_it_in_range(string bounds)
        => AssertVerdicts(Schema(bounds), Integers());

    // Each value as {"n": value}: taken whole exactly when the reference finds it valid; some are.
    private static CompiledSchema AssertVerdicts(string schema, IEnumerable<string> values)
    {
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        JsonSchema reference = JsonSchema.FromText(schema);
        int taken = 0;
        foreach (string n in values)
        {
            string text = "{\"n\":" + n + "}";
            using JsonDocument doc = JsonDocument.Parse(text);
            bool valid = reference.Evaluate(doc.RootElement).IsValid;
            int at = SchemaPrefixTests.Refusal(compiled, text, out bool complete);
            Assert.True(valid == (at < 0 && complete), $"{text} under {schema}: valid {valid}, refused at {at}");
            taken += valid ? 1 : 0;
        }
        Assert.True(taken > 0);
        return compiled;
    }

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Every_prefix_taken_can_still_end_in_range(string bounds) => AssertNoDeadPrefix(Schema(bounds), "-0123456789", 6, 7);

    // Breadth-first over the bytes the automaton takes after {"n": , to the given length: each distinct state reached
    // must reach a complete text within the budget of more bytes.
    private static void AssertNoDeadPrefix(string schema, string bytes, int length, int budget)
    {
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        var start = new SchemaPrefix(compiled);
        Assert.True(start.TryAdvance("{\"n\":"u8));
        var frontier = new HashSet<SchemaPrefix> { start };
        for (int depth = 0; depth < length; depth++)
        {
            var next = new HashSet<SchemaPrefix>();
            foreach (SchemaPrefix state in frontier)
            {
                foreach (byte b in Encoding.ASCII.GetBytes(bytes))
                {
                    SchemaPrefix copy = state;
                    if (copy.TryAdvance(b) && next.Add(copy))
                    {
                        Assert.True(CanEnd(copy, budget, bytes), $"a prefix under {schema} cannot end in range");
                    }
                }
            }
            frontier = next;
        }
    }

    private static bool CanEnd(SchemaPrefix state, int budget, string bytes)
    {
        SchemaPrefix closed = state;
        if (closed.TryAdvance((byte)'}') && closed.IsComplete)
        {
            return true;
        }
        if (budget == 0)
        {
            return false;
        }
        foreach (byte b in Encoding.ASCII.GetBytes(bytes))
        {
            SchemaPrefix copy = state;
            if (copy.TryAdvance(b) && CanEnd(copy, budget - 1, bytes))
            {
                return true;
            }
        }
        return false;
    }

    [Fact]
    public void An_open_range_follows_digits_only_until_every_longer_integer_is_in_it()
    {
        // minimum 250: "3" may still be 30 (out), "300" is in and so is anything longer: the state stops following
        // the digits, so long integers are many bytes but few states.
        CompiledSchema compiled = SchemaPrefixTests.Compile(Schema(""" "minimum": 250 """));
        var a = new SchemaPrefix(compiled);
        var b = new SchemaPrefix(compiled);
        Assert.True(a.TryAdvance(Encoding.UTF8.GetBytes("{\"n\":300")));
        Assert.True(b.TryAdvance(Encoding.UTF8.GetBytes("{\"n\":98765432109876543210")));
        Assert.Equal(a, b);
        Assert.Equal(-1, SchemaPrefixTests.Refusal(compiled, "{\"n\":" + new string('9', 400) + "}", out bool complete));
        Assert.True(complete);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","minimum":5,"maximum":4}}}""", "minimum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","maximum":1e30}}}""", "maximum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","exclusiveMinimum":true}}}""", "exclusiveMinimum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","exclusiveMaximum":0.1234567}}}""", "exclusiveMaximum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","minimum":1,"exclusiveMaximum":1}}}""", "minimum")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"number","maximum":3},{"type":"number","minimum":10}]}}}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"number","maximum":3},{"type":"integer","minimum":10}]}}}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"integer","maximum":3},{"type":"integer","minimum":10}]}}}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"integer","maximum":3},{"const":7}]}}}""", "anyOf")]
    // The const is the range's excluded end: the number branch cannot write it, so it is not covered by it.
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"number","exclusiveMinimum":0},{"const":0}]}}}""", "anyOf")]
    // Integer 0 lies outside the numbers' exclusiveMinimum 0: the number range does not hold the integers' whole range.
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"number","exclusiveMinimum":0,"maximum":9},{"type":"integer","minimum":0,"maximum":5}]}}}""", "anyOf")]
    // Bounds a decimal would round (past 28 significant digits or 28 decimals): read so, 0 would pass minimum 1e-400.
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","minimum":1E-400}}}""", "minimum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","maximum":-1E-400}}}""", "maximum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","minimum":0.1000000000000000000000000000001}}}""", "minimum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","maximum":0.99999999999999999999999999999999}}}""", "maximum")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","exclusiveMinimum":1.00000000000000000000000000000001}}}""", "exclusiveMinimum")]
    public void Bounds_copal_cannot_hold_to_are_refused_naming_them(string schema, string keyword)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal(keyword, e.Keyword);
    }

    [Theory]
    [InlineData(""" "minimum": 1.5e0, "maximum": 15E-1 """, "1.5", "1.4")]
    [InlineData(""" "minimum": 1.0000000000000000000000000000 """, "1", "0.999999")]
    [InlineData(""" "exclusiveMinimum": 1e-6 """, "0.000002", "0.000001")]
    [InlineData(""" "maximum": -0, "minimum": -0.0e5 """, "-0", "0.000001")]
    [InlineData(""" "maximum": 10000000000000000e-16 """, "1", "1.000001")]
    [InlineData(""" "minimum": -99999999999999999.999999, "maximum": 0.000000000000000000000000000000e100 """, "-99999999999999999.999999", "-100000000000000000")]
    public void A_bound_is_read_exactly_however_it_is_written(string bounds, string taken, string refused)
    {
        CompiledSchema compiled = SchemaPrefixTests.Compile(Schema(bounds, "number"));
        Assert.Equal(-1, SchemaPrefixTests.Refusal(compiled, "{\"n\":" + taken + "}", out bool complete));
        Assert.True(complete);
        int at = SchemaPrefixTests.Refusal(compiled, "{\"n\":" + refused + "}", out complete);
        Assert.False(at < 0 && complete, refused);
    }

    // An integer is a number: a type beside anyOf of integer and a branch of number (or the reverse) leave the
    // integers in range, and integers within a number's range (under one set of bounds, or in another branch) are
    // that range.
    [Theory]
    [InlineData("""{"type":"integer","anyOf":[{"type":"number","minimum":1.5}]}""")]
    [InlineData("""{"type":"number","anyOf":[{"type":"integer","maximum":3},{"type":"null"}]}""")]
    [InlineData("""{"type":["integer","null"],"anyOf":[{"type":"number","exclusiveMaximum":4}]}""")]
    [InlineData("""{"minimum":-2.5}""")]
    [InlineData("""{"type":["integer","number"],"exclusiveMaximum":0}""")]
    [InlineData("""{"anyOf":[{"type":"integer","minimum":0},{"type":"number","minimum":0}]}""")]
    [InlineData("""{"anyOf":[{"type":"number","exclusiveMinimum":-3,"maximum":3.5},{"type":"integer","minimum":-2,"maximum":3},{"type":"null"}]}""")]
    public void An_integer_is_held_as_a_number_beside_and_within_branches(string value)
    {
        string schema = $$$"""{"type":"object","properties":{"n":{{{value}}}},"required":["n"],"additionalProperties":false}""";
        AssertVerdicts(schema, ["-3", "-2.5", "-2", "-0.5", "0", "1", "1.5", "2", "2.5", "3", "3.5", "4", "5"]);
    }

    [Fact]
    public void Ranges_that_meet_merge_and_a_number_branch_takes_them_in()
    {
        AssertTakes("""{"anyOf":[{"type":"integer","minimum":0,"maximum":9},{"type":"integer","minimum":10,"maximum":20}]}""", "{\"n\":15}", "{\"n\":21}");
        AssertTakes("""{"anyOf":[{"type":"integer","minimum":0,"maximum":9},{"type":"number"}]}""", "{\"n\":-15.5}", null);
        AssertTakes("""{"anyOf":[{"type":"integer","minimum":0,"maximum":9},{"const":5}]}""", "{\"n\":5}", "{\"n\":10}");
    }

    private static void AssertTakes(string value, string taken, string? refused)
    {
        string schema = $$$"""{"type":"object","properties":{"n":{{{value}}}},"required":["n"],"additionalProperties":false}""";
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        Assert.Equal(-1, SchemaPrefixTests.Refusal(compiled, taken, out bool complete));
        Assert.True(complete);
        if (refused is not null)
        {
            int at = SchemaPrefixTests.Refusal(compiled, refused, out complete);
            Assert.False(at < 0 && complete, refused);
        }
    }
}
