using System.Globalization;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Integers held to minimum, maximum and their exclusive forms: every integer text of up to five digits, either sign,
/// against JsonSchema.Net's verdict (taken whole exactly when valid), and every prefix the automaton takes can still end
/// in range (no reply is led into a number it cannot finish).
/// </summary>
public class SchemaIntegerRangeTests
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

    private static string Schema(string bounds) =>
        $$$"""{"type":"object","properties":{"n":{"type":"integer",{{{bounds}}}}},"required":["n"],"additionalProperties":false}""";

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
    {
        string schema = Schema(bounds);
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        JsonSchema reference = JsonSchema.FromText(schema);
        int taken = 0;
        foreach (string n in Integers())
        {
            string text = "{\"n\":" + n + "}";
            using JsonDocument doc = JsonDocument.Parse(text);
            bool valid = reference.Evaluate(doc.RootElement).IsValid;
            int at = SchemaPrefixTests.Refusal(compiled, text, out bool complete);
            Assert.True(valid == (at < 0 && complete), $"{text} under {bounds}: valid {valid}, refused at {at}");
            taken += valid ? 1 : 0;
        }
        Assert.True(taken > 0);
    }

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Every_prefix_taken_can_still_end_in_range(string bounds)
    {
        // Breadth-first over the digits and signs the automaton takes after {"n": , to six characters: each state
        // reached must reach a complete text within six more bytes (at most five digits and the closing brace).
        CompiledSchema compiled = SchemaPrefixTests.Compile(Schema(bounds));
        var start = new SchemaPrefix(compiled);
        Assert.True(start.TryAdvance("{\"n\":"u8));
        var frontier = new List<SchemaPrefix> { start };
        for (int depth = 0; depth < 6; depth++)
        {
            var next = new List<SchemaPrefix>();
            foreach (SchemaPrefix state in frontier)
            {
                foreach (byte b in "-0123456789"u8)
                {
                    SchemaPrefix copy = state;
                    if (copy.TryAdvance(b))
                    {
                        Assert.True(CanEnd(copy, 7), $"a prefix under {bounds} cannot end in range");
                        next.Add(copy);
                    }
                }
            }
            frontier = next;
        }
    }

    private static bool CanEnd(SchemaPrefix state, int budget)
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
        foreach (byte b in "0123456789"u8)
        {
            SchemaPrefix copy = state;
            if (copy.TryAdvance(b) && CanEnd(copy, budget - 1))
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
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","exclusiveMaximum":3}}}""", "exclusiveMaximum")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"integer","maximum":3},{"type":"integer","minimum":10}]}}}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"n":{"anyOf":[{"type":"integer","maximum":3},{"const":7}]}}}""", "anyOf")]
    public void Bounds_copal_cannot_hold_to_are_refused_naming_them(string schema, string keyword)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal(keyword, e.Keyword);
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
