using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// String branches of anyOf and oneOf joined as one automaton where the join would not be exact: a format held to a
/// subset of its strings, a maxLength lowered to fit, a union within a union of the other kind. Each is either
/// refused or held to JsonSchema.Net's verdict; never a string the reference fails.
/// </summary>
public class SchemaStringBranchTests
{
    private static string Schema(string inner) => "{\"type\":\"object\",\"properties\":{\"s\":" + inner + "},\"required\":[\"s\"]}";

    // Refused, or taking exactly the strings JsonSchema.Net takes (format validation on) among `values`.
    private static void AssertRefusedOrExact(string schema, params string[] values)
    {
        CompiledSchema compiled;
        try
        {
            compiled = SchemaPrefixTests.Compile(schema);
        }
        catch (SchemaNotSupportedException)
        {
            return;
        }
        JsonSchema reference = JsonSchema.FromText(schema);
        foreach (string value in values)
        {
            string text = "{\"s\":" + JsonSerializer.Serialize(value) + "}";
            using JsonDocument doc = JsonDocument.Parse(text);
            bool expected = reference.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true }).IsValid;
            int at = SchemaPrefixTests.Refusal(compiled, text, out bool complete);
            Assert.True(expected == (at < 0 && complete), $"\"{value}\": the reference says {expected}");
        }
    }

    [Fact]
    public void OneOf_beside_a_format_held_to_a_subset_of_its_strings_is_refused_or_exact()
    {
        // 1.2.3.4 is a hostname to the reference (copal never writes it as one) and an ipv4: both branches take it.
        AssertRefusedOrExact(Schema("""{"oneOf":[{"type":"string","format":"hostname"},{"type":"string","format":"ipv4"}]}"""), "1.2.3.4", "a.b");
        // ftp://a is a uri of a scheme copal never writes: both branches take it.
        AssertRefusedOrExact(Schema("""{"oneOf":[{"type":"string","format":"uri"},{"type":"string","pattern":"^ftp://a$"}]}"""), "ftp://a");
    }

    [Fact]
    public void OneOf_beside_a_maxLength_lowered_to_fit_is_refused_or_exact()
    {
        // The uri branch's 2,083 would be lowered: a longer string both branches take would read as the pattern's alone.
        AssertRefusedOrExact(Schema("""{"oneOf":[{"type":"string","format":"uri","maxLength":2083},{"type":"string","pattern":"^http://a/x*$"}]}"""),
            "http://a/" + new string('x', 1500), "http://a/x");
        AssertRefusedOrExact(Schema("""{"oneOf":[{"type":"string","pattern":"^[a-z]+(-[a-z]+)*\\.[a-z]+$","maxLength":5000},{"type":"string","pattern":"^a+\\.b$"}]}"""),
            new string('a', 3000) + ".b", "a.b", "a.c");
    }

    [Theory]
    // oneOf within anyOf: "ab" matches both of the oneOf's branches, so only "z…" may stand for it.
    [InlineData("""{"anyOf":[{"oneOf":[{"type":"string","pattern":"^a"},{"type":"string","pattern":"^ab"}]},{"type":"string","pattern":"^z"}]}""")]
    // anyOf within oneOf: "ab" matches the anyOf once, however many of its branches take it.
    [InlineData("""{"oneOf":[{"anyOf":[{"type":"string","pattern":"^a"},{"type":"string","pattern":"^ab"}]},{"type":"string","pattern":"^z"}]}""")]
    // oneOf within oneOf: "abz" fails the inner one and matches the last branch.
    [InlineData("""{"oneOf":[{"oneOf":[{"type":"string","pattern":"^a"},{"type":"string","pattern":"^ab"}]},{"type":"string","pattern":"z$"}]}""")]
    public void A_union_within_a_union_of_the_other_kind_is_refused_or_exact(string inner)
    {
        AssertRefusedOrExact(Schema(inner), "ab", "ac", "z", "abz", "az", "b");
        // The same through a $ref.
        string viaRef = "{\"$defs\":{\"u\":" + inner + "},\"type\":\"object\",\"properties\":{\"s\":{\"anyOf\":[{\"$ref\":\"#/$defs/u\"},{\"type\":\"string\",\"maxLength\":1}]}},\"required\":[\"s\"]}";
        AssertRefusedOrExact(viaRef, "ab", "abc", "ac", "z", "abz", "b");
    }

    [Fact]
    public void AnyOf_within_anyOf_still_joins()
    {
        CompiledSchema schema = SchemaPrefixTests.Compile(Schema("""{"anyOf":[{"anyOf":[{"type":"string","pattern":"^a"},{"type":"string","pattern":"^ab"}]},{"type":"string","pattern":"^z"}]}"""));
        Assert.Equal(-1, SchemaPrefixTests.Refusal(schema, """{"s":"ab"}""", out bool complete));
        Assert.True(complete);
    }
}
