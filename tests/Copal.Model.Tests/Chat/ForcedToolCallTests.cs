using System.Text.Json;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.Generation.Constraints.Schema;
using Copal.Model.Tests.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Chat;

/// <summary>
/// The schema a call forced among several functions is held to: the name picks the function, and the arguments are
/// held to that function's parameters, references within them included. Verdicts are checked against JsonSchema.Net.
/// </summary>
public class ForcedToolCallTests
{
    private static readonly KeyValuePair<string, JsonElement?>[] s_tools =
    [
        new("get_weather", Parse("""{"type":"object","properties":{"city":{"type":"string"},"unit":{"$ref":"#/$defs/unit"}},"required":["city"],"additionalProperties":false,"$defs":{"unit":{"enum":["C","F"]}},"$id":"https://example.com/weather"}""")),
        new("get_time", null),
        new("tree", Parse("""{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#"}}},"required":["v"],"additionalProperties":false}""")),
    ];

    private static JsonElement Parse(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    [Theory]
    [InlineData("""{"name":"get_weather","arguments":{"city":"Paris","unit":"C"}}""", true)]
    [InlineData("""{"name":"get_time","arguments":{}}""", true)]
    [InlineData("""{"name":"tree","arguments":{"v":1,"kids":[{"v":2,"kids":[]}]}}""", true)]
    [InlineData("""{"name":"get_weather","arguments":{"city":"Paris","unit":"K"}}""", false)]  // off its $ref'd enum
    [InlineData("""{"name":"get_time","arguments":{"city":"Paris"}}""", false)]             // the weather's argument
    [InlineData("""{"name":"tree","arguments":{"v":1,"kids":[{"city":"x"}]}}""", false)]    // "#" is the tree's own top
    [InlineData("""{"name":"get_weather","arguments":{}}""", false)]                        // city is required
    [InlineData("""{"name":"get_date","arguments":{}}""", false)]                           // not offered
    public void Among_several_functions_the_arguments_are_held_to_the_named_functions_parameters(string reply, bool valid)
    {
        JsonElement schema = ForcedToolCalls.Schema(s_tools, name: null);
        CompiledSchema compiled = JsonSchemaCompiler.Compile(schema);
        using JsonDocument doc = JsonDocument.Parse(reply);
        Assert.Equal(valid, JsonSchema.FromText(schema.GetRawText()).Evaluate(doc.RootElement).IsValid);
        int at = SchemaPrefixTests.Refusal(compiled, reply, out bool complete);
        Assert.Equal(valid, at < 0 && complete);
    }

    [Fact]
    public void A_named_function_or_the_only_one_is_held_to_its_parameters_alone()
    {
        Assert.Equal(s_tools[2].Value!.Value.GetRawText(), ForcedToolCalls.Schema(s_tools, "tree").GetRawText());
        Assert.Equal("""{"type":"object","properties":{},"additionalProperties":false}""", ForcedToolCalls.Schema([s_tools[1]], null).GetRawText());
    }

    [Fact]
    public void A_function_no_arguments_satisfy_is_refused_alone_and_left_out_among_others()
    {
        // parameters false: no call of it is valid. Named, or the only one, nothing can be forced; among several, the
        // union's branch for it takes nothing, so "required" calls one of the others (as docs/serving.md says).
        KeyValuePair<string, JsonElement?>[] tools = [new("never", Parse("false")), s_tools[1]];
        Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(ForcedToolCalls.Schema(tools, "never")));
        Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(ForcedToolCalls.Schema([tools[0]], null)));
        CompiledSchema union = JsonSchemaCompiler.Compile(ForcedToolCalls.Schema(tools, null));
        Assert.True(SchemaPrefixTests.Refusal(union, """{"name":"never","arguments":{}}""", out _) >= 0);
        Assert.Equal(-1, SchemaPrefixTests.Refusal(union, """{"name":"get_time","arguments":{}}""", out bool complete));
        Assert.True(complete);
    }

    [Fact]
    public void A_refusal_within_one_functions_parameters_names_the_function_and_the_place_in_them()
    {
        KeyValuePair<string, JsonElement?>[] tools =
        [
            s_tools[1],
            new("remind", Parse("""{"type":"object","properties":{"at":{"type":"string","format":"idn-email"}},"required":["at"]}""")),
        ];
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(ForcedToolCalls.Schema(tools, null)));
        Assert.StartsWith(
            "the parameters of 'remind' cannot be held to: json_schema: 'format' at #/properties/at is not supported: ",
            ForcedToolCalls.SchemaProblem("response_format " + e.Message, [.. tools.Select(t => t.Key)], callee: null),
            StringComparison.Ordinal);
        Assert.StartsWith(
            "the parameters of 'remind' cannot be held to: json_schema: 'format' at #/properties/at is not supported: ",
            ForcedToolCalls.SchemaProblem("response_format json_schema: 'format' at #/properties/at is not supported: x", ["remind"], callee: "remind"),
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"any","arguments":{"a":[1]}}""", true)]
    [InlineData("""{"name":"empty","arguments":{}}""", true)]
    [InlineData("""{"name":"untyped","arguments":{"n":1}}""", true)]
    [InlineData("""{"name":"nullable","arguments":{"n":1}}""", true)]
    [InlineData("""{"name":"any","arguments":"x"}""", false)]
    [InlineData("""{"name":"empty","arguments":[1]}""", false)]
    [InlineData("""{"name":"untyped","arguments":1}""", false)]
    [InlineData("""{"name":"nullable","arguments":null}""", false)]
    [InlineData("""{"name":"stringly","arguments":"x"}""", false)]
    [InlineData("""{"name":"listed","arguments":"x"}""", false)]
    [InlineData("""{"name":"referenced","arguments":"x"}""", false)]
    [InlineData("""{"name":"referenced","arguments":{"n":1}}""", false)]
    [InlineData("""{"name":"branches","arguments":"x"}""", false)]
    [InlineData("""{"name":"branches","arguments":{"n":1}}""", true)]
    [InlineData("""{"name":"wrapped","arguments":{"n":1}}""", true)]
    [InlineData("""{"name":"wrapped","arguments":[]}""", false)]
    [InlineData("""{"name":"counted","arguments":1}""", false)]
    [InlineData("""{"name":"counted","arguments":{}}""", false)]
    public void Among_several_functions_the_arguments_are_an_object_whatever_the_parameters_allow_beside(string reply, bool taken)
    {
        // Where the parameters are the whole schema its top must be an object; within the union they are narrowed
        // to one, so that every reply the schema takes reads back as a call.
        KeyValuePair<string, JsonElement?>[] tools =
        [
            new("any", Parse("true")),
            new("empty", Parse("{}")),
            new("untyped", Parse("""{"properties":{"n":{"type":"integer"}}}""")),
            new("nullable", Parse("""{"type":["null","object"],"properties":{"n":{"type":"integer"}}}""")),
            // Parameters that take no object (alone, refused: the reply is an object) take no arguments: they took a
            // string, and "required" then wrote a reply that read back as no call.
            new("stringly", Parse("""{"type":"string"}""")),
            new("listed", Parse("""{"enum":["x"]}""")),
            new("referenced", Parse("""{"$ref":"#/$defs/s","$defs":{"s":{"type":"string"}}}""")),
            new("branches", Parse("""{"anyOf":[{"type":"string"},{"type":"object","properties":{"n":{"type":"integer"}}}]}""")),
            new("wrapped", Parse("""{"allOf":[{"$ref":"#/$defs/o"}],"$defs":{"o":{"type":["object","array"]}}}""")),
            // Every JSON Schema type name is read as one: integer too.
            new("counted", Parse("""{"type":"integer"}""")),
        ];
        JsonElement schema = ForcedToolCalls.Schema(tools, name: null);
        using JsonDocument doc = JsonDocument.Parse(reply);
        Assert.Equal(taken, JsonSchema.FromText(schema.GetRawText()).Evaluate(doc.RootElement).IsValid);
        int at = SchemaPrefixTests.Refusal(JsonSchemaCompiler.Compile(schema), reply, out bool complete);
        Assert.Equal(taken, at < 0 && complete);
        ToolCallSplitter splitter = ToolCallSplitter.Forced(callee: null, tools.Select(t => t.Key));
        Assert.Equal("", splitter.Push(reply));
        (string content, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        if (taken)
        {
            Assert.Equal("", content);
            ToolCall call = Assert.Single(calls);
            using JsonDocument arguments = JsonDocument.Parse(call.Arguments);
            Assert.Equal(doc.RootElement.GetProperty("arguments").GetRawText(), arguments.RootElement.GetRawText());
        }
    }

    private static string Problem(params KeyValuePair<string, JsonElement?>[] tools)
    {
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(ForcedToolCalls.Schema(tools, null)));
        return ForcedToolCalls.SchemaProblem("response_format " + e.Message, tools, callee: null);
    }

    [Fact]
    public void A_refusal_quotes_the_callers_own_references_not_where_the_union_moved_them()
    {
        Assert.Equal(
            "the parameters of 'f' cannot be held to: json_schema: '$ref' at #/properties/a is not supported: $ref \"#/$defs/x\" points nowhere in the schema",
            Problem(new("g", null), new("f", Parse("""{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}}}"""))));
        // A $ref at the parameters' top, which the union moves into a branch of its own to hold it to objects, is
        // placed where the caller wrote it.
        Assert.Equal(
            "the parameters of 'f' cannot be held to: json_schema: '$ref' at # is not supported: $ref \"#/$defs/x\" points nowhere in the schema",
            Problem(new("g", null), new("f", Parse("""{"$ref":"#/$defs/x"}"""))));
        // Parameters with an anyOf of their own: the place within them keeps its /anyOf/0 (only a $ref or allOf the
        // union moved into a branch loses it).
        Assert.Equal(
            "the parameters of 'f' cannot be held to: json_schema: '$ref' at #/anyOf/0/properties/a is not supported: $ref \"#/$defs/x\" points nowhere in the schema",
            Problem(new("g", null), new("f", Parse("""{"anyOf":[{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}}}]}"""))));
        // A reference of another form is refused as it was written, as where the parameters are the whole schema.
        Assert.StartsWith(
            "the parameters of 'f' cannot be held to: json_schema: '$ref' at #/properties/a is not supported: $ref \"#gone\" is not taken",
            Problem(new("g", null), new("f", Parse("""{"type":"object","properties":{"a":{"$ref":"#gone"}}}"""))),
            StringComparison.Ordinal);
    }

    /// <summary>
    /// Parameters with both a $ref and an allOf at their top are refused among several functions for what the caller
    /// wrote, as where they are the whole schema: the union wrapped the $ref alone into an anyOf branch, and the refusal
    /// spoke of an anyOf the caller never wrote.
    /// </summary>
    [Fact]
    public void A_ref_beside_allOf_is_refused_among_several_as_where_it_is_the_whole_schema()
    {
        JsonElement parameters = Parse("""{"$ref":"#/$defs/o","allOf":[{"type":"object"}],"$defs":{"o":{"type":"object"}}}""");
        SchemaNotSupportedException alone = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(parameters));
        string among = Problem(new("g", null), new("f", parameters));
        Assert.True("the parameters of 'f' cannot be held to: " + alone.Message == among, $"alone: {alone.Message}\namong several: {among}");
    }

    [Fact]
    public void A_type_no_schema_has_is_refused_among_several_not_taken_as_one_that_leaves_out_objects()
    {
        Assert.StartsWith(
            "the parameters of 'f' cannot be held to: json_schema: 'type' at # is not supported: type 'strng' is not a JSON Schema type",
            Problem(new("g", null), new("f", Parse("""{"type":"strng"}"""))),
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_refusal_names_the_function_whose_place_it_is_not_one_its_reason_spells()
    {
        // Function 1's required name spells function 0's place: the refusal is still function 1's (and 10's is not 1's).
        KeyValuePair<string, JsonElement?>[] tools =
        [
            .. Enumerable.Range(0, 10).Select(i => new KeyValuePair<string, JsonElement?>($"f{i}", null)),
            new("f10", Parse("""{"type":"object","properties":{},"required":["x at #/anyOf/0/properties/arguments/y"]}""")),
        ];
        Assert.StartsWith(
            "the parameters of 'f10' cannot be held to: json_schema: 'required' at # is not supported: 'x at #/anyOf/0/properties/arguments/y' is required",
            Problem(tools),
            StringComparison.Ordinal);
    }

    [Fact]
    public void The_callee_is_the_named_function_or_the_only_one_never_the_first_of_several()
    {
        Assert.Equal("b", ForcedToolCalls.Callee(["a", "b"], "b"));
        Assert.Equal("a", ForcedToolCalls.Callee(["a"], null));
        Assert.Null(ForcedToolCalls.Callee(["a", "b"], null));
    }

    [Theory]
    // A key twice (JSON allows it): refused as where the parameters are the whole schema, not an exception of another kind.
    [InlineData("""{"type":"object","properties":{"a":{"type":"string"},"a":{"type":"integer"}}}""", "the parameters of 'f' cannot be held to: json_schema: 'properties' at # is not supported: property 'a' is declared twice")]
    // A lone surrogate in an annotation, which the compiler never reads: taken, as where the parameters are the whole schema.
    [InlineData("""{"type":"object","description":"\ud800","properties":{"a":{"type":"string","description":"x\udc00"}}}""", null)]
    // A reference spelled with an escape is still the function's own.
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"$ref":"\u0023/anyOf/0"},"b":{"type":"integer"}},"required":["b"]}]}""", null)]
    public void Parameters_are_embedded_as_written_and_judged_as_where_they_are_the_whole_schema(string parameters, string? refusal)
    {
        KeyValuePair<string, JsonElement?>[] tools = [new("f", Parse(parameters)), new("g", null)];
        foreach (string? callee in (string?[])["f", null])
        {
            JsonElement schema = ForcedToolCalls.Schema(tools, callee);
            if (refusal is null)
            {
                CompiledSchema compiled = JsonSchemaCompiler.Compile(schema);
                string reply = callee is null ? """{"name":"f","arguments":{"a":{"b":1},"b":2}}""" : """{"a":{"b":1},"b":2}""";
                bool recursive = parameters.Contains("anyOf", StringComparison.Ordinal);
                Assert.Equal(recursive, SchemaPrefixTests.Refusal(compiled, reply, out bool complete) < 0 && complete);
                continue;
            }
            SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(schema));
            Assert.Equal(refusal, ForcedToolCalls.SchemaProblem("response_format " + e.Message, [.. tools.Select(t => t.Key)], callee));
        }
    }
}
