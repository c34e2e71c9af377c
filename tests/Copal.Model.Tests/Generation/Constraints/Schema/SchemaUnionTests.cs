using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Objects of several shapes (anyOf or oneOf of objects) told apart by a discriminator, as Pydantic writes tagged
/// unions and as a call forced among several functions needs: the discriminator comes first, its value picks the
/// branch, and the rest of the object is held to that branch alone. Every verdict is checked against JsonSchema.Net.
/// </summary>
public class SchemaUnionTests
{
    // The discriminator is declared last in the second branch: it is still written first.
    private const string Shapes = """
        {"type":"object","properties":{"shape":{"oneOf":[
          {"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"],"additionalProperties":false},
          {"type":"object","properties":{"w":{"type":"integer"},"h":{"type":"integer"},"kind":{"type":"string","enum":["square","rect"]}},"required":["w","kind"],"additionalProperties":false}
        ]}},"required":["shape"],"additionalProperties":false}
        """;

    // reference: the schema as JsonSchema.Net reads it, where it differs only by an annotation that validator refuses.
    private static void AssertVerdict(string schema, string text, bool valid, string? reference = null)
    {
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(valid, JsonSchema.FromText(reference ?? schema).Evaluate(doc.RootElement).IsValid);
        int at = SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(schema), text, out bool complete);
        Assert.Equal(valid, at < 0 && complete);
    }

    [Theory]
    [InlineData("""{"shape":{"kind":"circle","r":1.5}}""")]
    [InlineData("""{"shape":{"kind":"rect","w":2,"h":3}}""")]
    [InlineData("""{"shape":{"kind":"square","w":2}}""")]
    [InlineData("""{"shape": {"kind": "rect", "w": -2}}""")]
    public void Each_branch_is_taken_with_its_discriminator_first(string text) => AssertVerdict(Shapes, text, valid: true);

    [Theory]
    [InlineData("""{"shape":{"kind":"circle","w":2}}""", 27)]        // w is the rectangles'
    [InlineData("""{"shape":{"kind":"rect","r":1}}""", 25)]          // r is the circle's
    [InlineData("""{"shape":{"kind":"circle"}}""", 25)]              // r is required in the circle's branch
    [InlineData("""{"shape":{"kind":"oval","r":1}}""", 18)]          // no branch is an oval
    [InlineData("""{"shape":{}}""", 10)]                             // every branch requires it
    public void What_no_branch_takes_is_refused_where_it_goes_wrong(string text, int at)
    {
        AssertVerdict(Shapes, text, valid: false);
        Assert.Equal(at, SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(Shapes), text, out _));
    }

    [Fact]
    public void The_discriminator_is_written_first_whatever_order_the_branch_declares()
    {
        // Valid JSON Schema in any order; the automaton writes the discriminator first, so its bytes pick the branch.
        Assert.Equal(11, SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(Shapes), """{"shape":{"w":2,"kind":"rect"}}""", out _));
    }

    [Fact]
    public void A_union_at_the_top_and_unions_within_a_union_read_as_one()
    {
        // anyOf [anyOf [a, b], c] at the top: the reply is one of three objects, by "t".
        const string schema = """
            {"anyOf":[
              {"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"}]},
              {"type":"object","properties":{"t":{"const":"c"},"c":{"type":"array","items":{"type":"integer"}}},"required":["t","c"],"additionalProperties":false}],
             "$defs":{
              "a":{"type":"object","properties":{"t":{"const":"a"},"a":{"type":"string"}},"required":["t"],"additionalProperties":false},
              "b":{"type":"object","properties":{"t":{"const":"b"},"b":{"type":"boolean"}},"required":["t","b"],"additionalProperties":false}}}
            """;
        AssertVerdict(schema, """{"t":"a"}""", valid: true);
        AssertVerdict(schema, """{"t":"a","a":"x"}""", valid: true);
        AssertVerdict(schema, """{"t":"b","b":true}""", valid: true);
        AssertVerdict(schema, """{"t":"c","c":[1,2]}""", valid: true);
        AssertVerdict(schema, """{"t":"b","a":"x"}""", valid: false);
        AssertVerdict(schema, """{"t":"c","c":["x"]}""", valid: false);
        AssertVerdict(schema, """{"t":"a","b":true}""", valid: false);
    }

    [Fact]
    public void A_branch_that_cannot_finish_at_this_depth_is_never_begun()
    {
        // Arrays nest as deep as the reply may, then an object: "flat" fits there, "deep" (an object inside) does not.
        const string schema = """
            {"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["a"],"additionalProperties":false,
             "$defs":{"n":{"anyOf":[
               {"type":"array","items":{"$ref":"#/$defs/n"}},
               {"type":"object","properties":{"k":{"const":"flat"}},"required":["k"],"additionalProperties":false},
               {"type":"object","properties":{"k":{"const":"deep"},"o":{"type":"object"}},"required":["k","o"],"additionalProperties":false}]}}}
            """;
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        // The root object, then arrays to one level short of the deepest nesting, then the union's object.
        string open = "{\"a\":" + new string('[', SchemaPrefix.MaxDepth - 2) + "{\"k\":\"";
        var state = new SchemaPrefix(compiled);
        Assert.True(state.TryAdvance(System.Text.Encoding.UTF8.GetBytes(open)));
        Assert.Equal(SchemaPrefix.MaxDepth, state.Depth);
        SchemaPrefix flat = state, deep = state;
        Assert.True(flat.TryAdvance("f"u8));
        Assert.False(deep.TryAdvance("d"u8));
        // One level up, the deep branch fits.
        Assert.Equal(-1, SchemaPrefixTests.Refusal(compiled, "{\"a\":" + new string('[', SchemaPrefix.MaxDepth - 3) + "{\"k\":\"deep\",\"o\":{}}" + new string(']', SchemaPrefix.MaxDepth - 3) + "}", out bool complete));
        Assert.True(complete);
    }

    [Theory]
    // The values overlap: "x" is in both branches.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"t":{"enum":["x","y"]}},"required":["t"]},{"type":"object","properties":{"t":{"const":"x"}},"required":["t"]}]}""")]
    // Not required in one branch.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"t":{"const":"x"}},"required":["t"]},{"type":"object","properties":{"t":{"const":"y"}}}]}""")]
    // Not a string.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"t":{"const":1}},"required":["t"]},{"type":"object","properties":{"t":{"const":2}},"required":["t"]}]}""")]
    // Through a $ref: only a const or enum written in place is taken.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"t":{"$ref":"#/$defs/x"}},"required":["t"]},{"type":"object","properties":{"t":{"const":"y"}},"required":["t"]}],"$defs":{"x":{"const":"x"}}}""")]
    // An object of any members beside one with a discriminator.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"t":{"const":"x"}},"required":["t"]},{"type":"object"}]}""")]
    public void Objects_no_property_tells_apart_are_refused_naming_the_combinator(string schema)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("anyOf", e.Keyword);
        Assert.Contains("a property tells them apart", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_object_shape_both_beside_a_union_and_within_it_is_refused_by_oneOf_and_taken_by_anyOf()
    {
        // Every object "a" takes matches both of oneOf's branches (a itself, and the anyOf that lists it): refused.
        const string schema = """
            {"COMBINATOR":[{"$ref":"#/$defs/a"},{"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"}]}],
             "$defs":{
              "a":{"type":"object","properties":{"t":{"const":"a"}},"required":["t"],"additionalProperties":false},
              "b":{"type":"object","properties":{"t":{"const":"b"}},"required":["t"],"additionalProperties":false}}}
            """;
        using JsonDocument doc = JsonDocument.Parse(schema.Replace("COMBINATOR", "oneOf", StringComparison.Ordinal));
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("oneOf", e.Keyword);
        Assert.Contains("branches 0 and 1 both allow an object", e.Message, StringComparison.Ordinal);
        string anyOf = schema.Replace("COMBINATOR", "anyOf", StringComparison.Ordinal);
        AssertVerdict(anyOf, """{"t":"a"}""", valid: true);
        AssertVerdict(anyOf, """{"t":"b"}""", valid: true);
    }

    [Fact]
    public void A_branch_is_never_mistaken_for_an_object_whose_location_spells_like_it()
    {
        // The branch of #/$defs/a led by the discriminator "x{", and the object at #/$defs/a{x: two shapes, however
        // their locations and names run together.
        const string schema = """
            {"type":"object","properties":{"u":{"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"}]},"p":{"$ref":"#/$defs/a{x"}},"required":["u","p"],"additionalProperties":false,
             "$defs":{
              "a":{"type":"object","properties":{"x{":{"const":"a"},"r":{"type":"string"}},"required":["x{"],"additionalProperties":false},
              "b":{"type":"object","properties":{"x{":{"const":"b"}},"required":["x{"],"additionalProperties":false},
              "a{x":{"type":"object","properties":{"q":{"type":"integer"}},"additionalProperties":false}}}
            """;
        AssertVerdict(schema, """{"u":{"x{":"a","r":"s"},"p":{"q":1}}""", valid: true);
        AssertVerdict(schema, """{"u":{"x{":"a"},"p":{"x{":"a"}}""", valid: false);
    }

    [Fact]
    public void A_tagged_union_as_Pydantic_writes_it_is_told_apart_by_the_property_its_discriminator_names()
    {
        // Field(discriminator="pet_type"): oneOf beside OpenAPI's discriminator, the tags typed consts. "v" tells the
        // branches apart too and comes first; the property the discriminator names is the one written first.
        const string schema = """
            {"$defs":{
              "Cat":{"properties":{"v":{"const":"1","type":"string"},"pet_type":{"const":"cat","title":"Pet Type","type":"string"},"meows":{"title":"Meows","type":"integer"}},"required":["v","pet_type","meows"],"title":"Cat","type":"object"},
              "Dog":{"properties":{"v":{"const":"2","type":"string"},"pet_type":{"const":"dog","title":"Pet Type","type":"string"},"barks":{"title":"Barks","type":"number"}},"required":["v","pet_type","barks"],"title":"Dog","type":"object"}},
             "properties":{"pet":{"discriminator":{"mapping":{"cat":"#/$defs/Cat","dog":"#/$defs/Dog"},"propertyName":"pet_type"},
               "oneOf":[{"$ref":"#/$defs/Cat"},{"$ref":"#/$defs/Dog"}],"title":"Pet"}},
             "required":["pet"],"title":"Model","type":"object"}
            """;
        // An annotation to JSON Schema, which JsonSchema.Net refuses as an unknown keyword: it checks the schema without it.
        JsonNode reference = JsonNode.Parse(schema)!;
        reference["properties"]!["pet"]!.AsObject().Remove("discriminator");
        string without = reference.ToJsonString();
        AssertVerdict(schema, """{"pet":{"pet_type":"cat","v":"1","meows":3}}""", valid: true, without);
        AssertVerdict(schema, """{"pet":{"pet_type":"dog","v":"2","barks":0.5}}""", valid: true, without);
        AssertVerdict(schema, """{"pet":{"pet_type":"dog","v":"1","barks":0.5}}""", valid: false, without);
        AssertVerdict(schema, """{"pet":{"pet_type":"cat","v":"1","meows":3,"barks":0.5}}""", valid: true, without); // further keys are open
        AssertVerdict(schema, """{"pet":{"pet_type":"cat","v":"1"}}""", valid: false, without);
    }
}
