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

    // What .NET's JSON schema exporter (System.Text.Json, as AIJsonUtilities.CreateJsonSchema and
    // ChatResponseFormat.ForJsonSchema<T> use it) writes for a nullable property of a polymorphic type with
    // [JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]: the type and the discriminator's required beside an
    // anyOf whose branches declare only properties.
    private const string Exported = """
        {"type":"object","properties":{"shape":{"type":["object","null"],"required":["kind"],"anyOf":[
          {"properties":{"kind":{"const":"circle"},"r":{"type":"number"},"color":{"type":"string"}}},
          {"properties":{"kind":{"const":"square"},"w":{"type":"integer"},"color":{"type":"string"}}}]},
         "name":{"type":"string"}}}
        """;

    [Theory]
    [InlineData("""{"shape":{"kind":"circle","r":1.5,"color":"red"},"name":"a"}""", true)]
    [InlineData("""{"shape":{"kind":"square","w":2},"name":"a"}""", true)]
    [InlineData("""{"shape":null}""", true)]
    [InlineData("""{"shape":{"kind":"square","w":2,"extra":[1]}}""", true)]   // no additionalProperties: open
    [InlineData("""{"shape":{"kind":"square","w":1.5}}""", false)]            // w is the square's integer
    [InlineData("""{"shape":{"kind":"circle","w":2}}""", true)]               // w is only a further key of the circle's
    [InlineData("""{"shape":{"r":1.5}}""", false)]                            // kind is required beside the anyOf
    [InlineData("""{"shape":"circle"}""", false)]                             // type beside the anyOf: an object or null
    [InlineData("""{"shape":{"kind":"oval"}}""", false)]
    public void Keywords_beside_an_anyOf_apply_to_every_branch_as_dotnets_exporter_writes_a_polymorphic_type(string text, bool valid)
        => AssertVerdict(Exported, text, valid);

    // Pydantic 2.13.4's model_json_schema() of a model with tagged unions (Literal discriminators, one of them two
    // values; Dog declares its tag last), written by Field(discriminator=...) as OpenAPI's discriminator beside oneOf:
    //   class Cat(BaseModel): pet_type: Literal['cat']; meows: int
    //   class Dog(BaseModel): barks: float; pet_type: Literal['dog']
    //   class Lizard(BaseModel): pet_type: Literal['reptile', 'lizard']; scales: bool
    //   class Model(BaseModel): pet: Union[Cat, Dog, Lizard] = Field(discriminator='pet_type'); n: int
    //       maybe: Optional[Union[Cat, Dog]] = Field(default=None, discriminator='pet_type'); many: List[Union[Cat, Dog]]
    private const string Pydantic = """
        {"$defs": {"Cat": {"properties": {"pet_type": {"const": "cat", "title": "Pet Type", "type": "string"}, "meows": {"title": "Meows", "type": "integer"}}, "required": ["pet_type", "meows"], "title": "Cat", "type": "object"},
         "Dog": {"properties": {"barks": {"title": "Barks", "type": "number"}, "pet_type": {"const": "dog", "title": "Pet Type", "type": "string"}}, "required": ["barks", "pet_type"], "title": "Dog", "type": "object"},
         "Lizard": {"properties": {"pet_type": {"enum": ["reptile", "lizard"], "title": "Pet Type", "type": "string"}, "scales": {"title": "Scales", "type": "boolean"}}, "required": ["pet_type", "scales"], "title": "Lizard", "type": "object"}},
         "properties": {"pet": {"discriminator": {"mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog", "lizard": "#/$defs/Lizard", "reptile": "#/$defs/Lizard"}, "propertyName": "pet_type"}, "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}, {"$ref": "#/$defs/Lizard"}], "title": "Pet"},
          "n": {"title": "N", "type": "integer"},
          "maybe": {"anyOf": [{"discriminator": {"mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog"}, "propertyName": "pet_type"}, "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}, {"type": "null"}], "default": null, "title": "Maybe"},
          "many": {"items": {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}, "title": "Many", "type": "array"}},
         "required": ["pet", "n", "many"], "title": "Model", "type": "object"}
        """;

    [Theory]
    [InlineData("""{"pet":{"pet_type":"dog","barks":1.5},"n":3,"many":[]}""", true)]
    [InlineData("""{"pet":{"pet_type":"reptile","scales":true},"n":3,"maybe":{"pet_type":"cat","meows":1},"many":[{"pet_type":"dog","barks":2},{"pet_type":"cat","meows":0}]}""", true)]
    [InlineData("""{"pet":{"pet_type":"lizard","scales":false},"n":0,"maybe":null,"many":[]}""", true)]
    [InlineData("""{"pet":{"pet_type":"dog","meows":1},"n":3,"many":[]}""", false)]
    [InlineData("""{"pet":{"pet_type":"cat","meows":1},"n":3,"maybe":{"pet_type":"lizard","scales":true},"many":[]}""", false)]
    [InlineData("""{"pet":{"pet_type":"cat","meows":1},"n":3,"many":[{"pet_type":"reptile","scales":true}]}""", false)]
    public void Pydantics_tagged_unions_are_taken_with_their_discriminator(string text, bool valid)
    {
        // JsonSchema.Net's dialect refuses OpenAPI's keyword; to JSON Schema it is an annotation, so the reference judges without it.
        var reference = JsonNode.Parse(Pydantic)!;
        foreach (string at in (string[])["pet", "maybe"])
        {
            JsonObject union = at == "pet" ? reference["properties"]![at]!.AsObject() : reference["properties"]![at]!["anyOf"]![0]!.AsObject();
            Assert.True(union.Remove("discriminator"));
        }
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(valid, JsonSchema.FromText(reference.ToJsonString()).Evaluate(doc.RootElement).IsValid);
        int refused = SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(Pydantic), text, out bool complete);
        Assert.Equal(valid, refused < 0 && complete);
    }

    [Fact]
    public void A_discriminator_that_does_not_tell_the_branches_apart_is_refused_naming_it()
    {
        string schema = Pydantic.Replace("\"propertyName\": \"pet_type\"}, \"oneOf\"", "\"propertyName\": \"meows\"}, \"oneOf\"", StringComparison.Ordinal);
        Assert.NotEqual(Pydantic, schema);
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("discriminator", e.Keyword);
        Assert.Equal("#/properties/pet", e.Path);
        Assert.Contains("'meows'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_two_oneOf_branches_list_is_left_out_as_oneOf_fails_it()
    {
        // "x" is in both branches, 100 in two writings: neither is valid; "y", 2 and 3 are.
        const string values = """{"type":"object","properties":{"s":{"oneOf":[{"enum":["x","y"]},{"const":"x"}]},"n":{"oneOf":[{"enum":[2,100]},{"enum":[3,1E2]}]}},"additionalProperties":false}""";
        AssertVerdict(values, """{"s":"y","n":2}""", valid: true);
        AssertVerdict(values, """{"n":3}""", valid: true);
        AssertVerdict(values, """{"s":"x"}""", valid: false);
        AssertVerdict(values, """{"n":100}""", valid: false);
        // A nullable polymorphic type under oneOf, as .NET's exporter would write it with oneOf: null matches both
        // untyped branches, so only the objects are valid.
        string nullable = Exported.Replace("\"anyOf\"", "\"oneOf\"", StringComparison.Ordinal);
        Assert.NotEqual(Exported, nullable);
        AssertVerdict(nullable, """{"shape":{"kind":"square","w":2}}""", valid: true);
        AssertVerdict(nullable, """{"shape":null}""", valid: false);
    }

    [Fact]
    public void Keywords_beside_anyOf_merge_into_each_branch_exactly()
    {
        // properties beside the anyOf come first; a branch that closes its object forbids them unless it declares them.
        const string schema = """
            {"type":"object","properties":{"id":{"type":"integer"}},"required":["id"],"anyOf":[
              {"properties":{"t":{"const":"a"},"a":{"type":"string"}},"required":["t"]},
              {"properties":{"id":{"type":"integer"},"t":{"const":"b"}},"required":["t"],"additionalProperties":false},
              {"type":["object","string"],"properties":{"t":{"const":"c"}},"required":["t"]}]}
            """;
        AssertVerdict(schema, """{"t":"a","id":1,"a":"x"}""", valid: true);
        AssertVerdict(schema, """{"t":"b","id":1}""", valid: true);
        AssertVerdict(schema, """{"t":"c","id":1,"more":true}""", valid: true);
        AssertVerdict(schema, """{"t":"a","a":"x"}""", valid: false);       // id is required beside the anyOf
        AssertVerdict(schema, """{"t":"b","id":1,"a":"x"}""", valid: false); // b is closed
        AssertVerdict(schema, """{"t":"a","id":"1"}""", valid: false);      // id is an integer beside the anyOf

        // additionalProperties {} beside the branches takes anything, as true does.
        string open = schema.Replace("\"required\":[\"id\"],", "\"required\":[\"id\"],\"additionalProperties\":{},", StringComparison.Ordinal);
        Assert.NotEqual(schema, open);
        AssertVerdict(open, """{"t":"a","id":1,"a":"x","more":[1]}""", valid: true);
    }

    [Theory]
    // additionalProperties beside the anyOf would judge the branches' own properties.
    [InlineData("""{"type":"object","additionalProperties":false,"anyOf":[{"properties":{"t":{"const":"a"}},"required":["t"]}]}""", "additionalProperties", "#")]
    // A property beside and in a branch with another schema.
    [InlineData("""{"type":"object","properties":{"t":{"type":"string"}},"anyOf":[{"properties":{"t":{"const":"a"}},"required":["t"]}]}""", "properties", "#/anyOf/0")]
    // A branch whose further keys have a schema, beside a property it does not declare.
    [InlineData("""{"type":"object","properties":{"id":{"type":"integer"}},"anyOf":[{"properties":{"t":{"const":"a"}},"additionalProperties":{"type":"string"}}]}""", "additionalProperties", "#/anyOf/0")]
    // minLength is not one of the keywords taken beside an anyOf.
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","minLength":1,"anyOf":[{"maxLength":3}]}}}""", "anyOf", "#/properties/s")]
    // An anyOf in a branch of an anyOf with keywords beside it.
    [InlineData("""{"type":"object","required":["t"],"anyOf":[{"anyOf":[{"properties":{"t":{"const":"a"}}}]}]}""", "anyOf", "#/anyOf/0")]
    public void Keywords_beside_anyOf_that_cannot_merge_exactly_are_refused_where_they_are(string schema, string keyword, string path)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal(keyword, e.Keyword);
        Assert.Equal(path, e.Path);
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
