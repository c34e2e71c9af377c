using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>What structured outputs cannot hold a reply to is refused, never ignored, in one line naming the keyword and its place.</summary>
public class SchemaRefusalTests
{
    [Theory]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","pattern":"(a)\\1"}},"additionalProperties":false}""", "pattern", "#/properties/s")]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","format":"idn-email"}},"additionalProperties":false}""", "format", "#/properties/s")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","minimum":0.1234567}},"additionalProperties":false}""", "minimum", "#/properties/n")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"number","multipleOf":2}},"additionalProperties":false}""", "multipleOf", "#/properties/n")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"array","uniqueItems":true}},"additionalProperties":false}""", "uniqueItems", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"array","prefixItems":[]}},"additionalProperties":false}""", "prefixItems", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"allOf":[]}},"additionalProperties":false}""", "allOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"allOf":[{"type":"string"},{"maxLength":3}]}},"additionalProperties":false}""", "allOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"allOf":[{"type":"string"}],"maxLength":3}},"additionalProperties":false}""", "allOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"not":{}}},"additionalProperties":false}""", "not", "#/properties/a")]
    [InlineData("""{"type":"object","patternProperties":{"^a":{}}}""", "patternProperties", "#")]
    [InlineData("""{"type":"object","properties":{"a":{}},"required":["b"],"additionalProperties":false}""", "required", "#")]
    [InlineData("""{"type":"object","properties":{"a":{"anyOf":[{"type":"object"},{"type":"object","additionalProperties":false}]}},"additionalProperties":false}""", "anyOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"type":"integer"},{"type":"number"}]}},"additionalProperties":false}""", "oneOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"anyOf":[{"type":"integer"},{"enum":[1.5]}]}},"additionalProperties":false}""", "anyOf", "#/properties/a")]
    // oneOf fails a value both branches take: the same object or array shape twice.
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"$ref":"#/$defs/o"},{"$ref":"#/$defs/o"}]}},"additionalProperties":false,"$defs":{"o":{"type":"object","additionalProperties":false}}}""", "oneOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"$ref":"#/$defs/l"},{"anyOf":[{"$ref":"#/$defs/l"},{"type":"null"}]}]}},"additionalProperties":false,"$defs":{"l":{"type":"array","maxItems":0}}}""", "oneOf", "#/properties/a")]
    // A value beside a range that the range does not take, however large (times 10^6 it would pass decimal's range).
    [InlineData("""{"type":"object","properties":{"a":{"anyOf":[{"type":"integer","minimum":0,"maximum":9},{"const":10000000000000000000000000}]}},"additionalProperties":false}""", "anyOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"anyOf":[{"type":"number","minimum":-9},{"enum":[-79000000000000000000000000000]}]}},"additionalProperties":false}""", "anyOf", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/$defs/b","type":"string"}},"additionalProperties":false,"$defs":{"b":{}}}""", "$ref", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"https://example.com/s"}},"additionalProperties":false}""", "$ref", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/$defs/missing"}},"additionalProperties":false}""", "$ref", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/$defs/b"}},"additionalProperties":false,"$defs":{"b":{"anyOf":[{"$ref":"#/$defs/b"}]}}}""", "$ref", "#/$defs/b")]
    [InlineData("""{"type":"object","properties":{"a":{"enum":[{"x":1}]}},"additionalProperties":false}""", "enum", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"enum":["x"],"maxLength":2}},"additionalProperties":false}""", "maxLength", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string","minLength":3,"maxLength":2}},"additionalProperties":false}""", "minLength", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"array","maxItems":70000}},"additionalProperties":false}""", "maxItems", "#/properties/a")]
    // A count a decimal would round to a whole one is not one.
    [InlineData("""{"type":"object","properties":{"a":{"type":"string","maxLength":2.00000000000000000000000000000001}},"additionalProperties":false}""", "maxLength", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"array","minItems":1E-400}},"additionalProperties":false}""", "minItems", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"text"}},"additionalProperties":false}""", "type", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a~b/c":{"type":"string","pattern":"(?<=x)"}},"additionalProperties":false}""", "pattern", "#/properties/a~0b~1c")]
    [InlineData("""{"type":"array"}""", "type", "#")]
    // Half a surrogate pair, escaped: valid JSON, but no string a reply can write.
    [InlineData("""{"type":"object","properties":{"a":{"enum":["x","\ud800"]}},"additionalProperties":false}""", "enum", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a\udc00":{"type":"string"}},"additionalProperties":false}""", "properties", "#")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/$defs/\ud800"}},"additionalProperties":false}""", "$ref", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"type":"object","properties":{"k":{"const":"\ud800"}},"required":["k"]},{"type":"object","properties":{"k":{"const":"b"}},"required":["k"]}]}},"additionalProperties":false}""", "const", "#/properties/a/oneOf/0/properties/k")]
    // A top level that admits no value, named where it fails: the $ref that closes a cycle of required members, a
    // required property that admits nothing (type beside anyOf leaving no branch, an empty enum), minItems of nothing.
    [InlineData("""{"type":"object","properties":{"c":{"$ref":"#"}},"required":["c"],"additionalProperties":false}""", "$ref", "#/properties/c")]
    [InlineData("""{"type":"object","properties":{"v":{"type":"object","anyOf":[{"type":"string"}]}},"required":["v"]}""", "required", "#")]
    [InlineData("""{"type":"object","properties":{"o":{"type":"object","properties":{"e":{"enum":[]}},"required":["e"]}},"required":["o"]}""", "required", "#/properties/o")]
    [InlineData("""{"type":"object","properties":{"l":{"type":"array","items":false,"minItems":1}},"required":["l"]}""", "minItems", "#/properties/l")]
    [InlineData("""{"type":"object","properties":{"l":{"type":"array","items":{"type":"integer","anyOf":[{"type":"null"}]},"minItems":1}},"required":["l"]}""", "minItems", "#/properties/l")]
    [InlineData("""{"type":"object","$defs":{"x":{"pattern":"a"}}}""", "", "")]
    public void A_keyword_that_cannot_be_held_to_is_refused_naming_it_and_its_place(string schema, string keyword, string path)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        if (keyword == "")
        {
            // A definition nothing refers to is never compiled: its keywords do not matter.
            JsonSchemaCompiler.Compile(doc.RootElement);
            return;
        }
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal(keyword, e.Keyword);
        Assert.Equal(path, e.Path);
        Assert.StartsWith($"json_schema: '{keyword}' at {path} is not supported: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string","description":"d","title":"t","default":"x","examples":["y"],"$comment":"c"}},"additionalProperties":false,"$schema":"https://json-schema.org/draft/2020-12/schema"}""")]
    [InlineData("""{"type":"object","properties":{"a":{"anyOf":[{"type":"object","properties":{"b":{"type":"null"}},"additionalProperties":false},{"type":"string"},{"type":"null"}]}},"required":["a"],"additionalProperties":false}""")]
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"type":"integer"},{"type":"string"},{"type":"array"}]}},"additionalProperties":false}""")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"array","uniqueItems":false}},"additionalProperties":false,"definitions":{}}""")]
    [InlineData("""{"properties":{"a":{"type":"integer"}},"additionalProperties":false}""")]
    [InlineData("""{"type":"object","properties":{"a":{}}}""")]
    [InlineData("""{"type":"object","properties":{"a":{}},"additionalProperties":{"type":"string"}}""")]
    [InlineData("""{"type":"object","description":"half a pair \ud800 is no matter in an annotation","properties":{}}""")]
    public void Annotations_and_the_subset_taken_compile(string schema)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        Assert.NotNull(JsonSchemaCompiler.Compile(doc.RootElement));
    }

    [Fact]
    public void Required_members_nested_past_the_limit_are_refused_where_they_pass_it()
    {
        // 70 objects, each requiring the next: the reply could never close them within 64 levels.
        string defs = string.Join(",", Enumerable.Range(0, 70).Select(i => $"\"d{i}\":{{\"type\":\"object\",\"properties\":{{\"o\":{{\"$ref\":\"#/$defs/d{i + 1}\"}}}},\"required\":[\"o\"]}}"));
        using JsonDocument doc = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{\"o\":{\"$ref\":\"#/$defs/d0\"}},\"required\":[\"o\"],\"$defs\":{" + defs + ",\"d70\":{\"type\":\"string\"}}}");
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("required", e.Keyword);
        Assert.StartsWith("#/$defs/d", e.Path, StringComparison.Ordinal);
        Assert.Contains("nest more than 64 levels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_chain_of_refs_is_refused_not_followed_down_the_stack()
    {
        // d0 → d1 → … → d9999 → a string: each $ref is compiled within the one before it.
        string defs = string.Join(",", Enumerable.Range(0, 10_000).Select(i => $"\"d{i}\":{{\"$ref\":\"#/$defs/d{i + 1}\"}}"));
        using JsonDocument doc = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/d0\"}},\"additionalProperties\":false,\"$defs\":{" + defs + ",\"d10000\":{\"type\":\"string\"}}}");
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("$ref", e.Keyword);
        Assert.Contains($"more than {JsonSchemaCompiler.MaxChain} deep", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_big_enum_compiles_into_one_trie_and_each_byte_is_a_lookup()
    {
        // 20,000 values: compiled once, linear in their bytes; a value is taken in as many steps as it has bytes.
        string values = string.Join(",", Enumerable.Range(0, 20_000).Select(i => $"\"v{i}\""));
        using JsonDocument doc = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{\"e\":{\"enum\":[" + values + "]}},\"required\":[\"e\"],\"additionalProperties\":false}");
        CompiledSchema schema = JsonSchemaCompiler.Compile(doc.RootElement);
        Assert.Equal(-1, SchemaPrefixTests.Refusal(schema, """{"e":"v19999"}""", out bool complete));
        Assert.True(complete);
        Assert.Equal(11, SchemaPrefixTests.Refusal(schema, """{"e":"v20000"}""", out _));
    }

    [Fact]
    public void An_object_of_many_properties_compiles_in_work_linear_in_them()
    {
        // 20,000 properties, the last required: finding each name among those declared before it by a search of the
        // list, reading each JsonProperty.Name anew (a new string each time), allocated about 200 million strings
        // (6 GB, and a minute at the 65,533 taken). Linear, the compile allocates about 5 KB a property.
        const int count = 20_000;
        string properties = string.Join(",", Enumerable.Range(0, count).Select(i => $"\"p{i}\":{{\"type\":\"integer\"}}"));
        using JsonDocument doc = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{" + properties + $"}},\"required\":[\"p{count - 1}\"],\"additionalProperties\":false}}");
        long before = GC.GetAllocatedBytesForCurrentThread();
        CompiledSchema schema = JsonSchemaCompiler.Compile(doc.RootElement);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, count * 16_384L);
        Assert.Equal(-1, SchemaPrefixTests.Refusal(schema, $"{{\"p7\":1,\"p{count - 1}\":2}}", out bool complete));
        Assert.True(complete);
        // p7 cannot come after a later property, and the required last one cannot be left out.
        Assert.NotEqual(-1, SchemaPrefixTests.Refusal(schema, $"{{\"p9\":1,\"p7\":2}}", out _));
        Assert.NotEqual(-1, SchemaPrefixTests.Refusal(schema, "{\"p9\":1}", out _));
    }
}
