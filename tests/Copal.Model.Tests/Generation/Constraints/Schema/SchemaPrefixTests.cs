using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>The schema automaton on hand-picked schemas: what it takes, where it refuses, and that it never strands a reply.</summary>
public class SchemaPrefixTests
{
    internal static CompiledSchema Compile(string schema)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        return JsonSchemaCompiler.Compile(doc.RootElement.Clone());
    }

    /// <summary>The index of the first byte refused, or -1 when all are taken; <paramref name="complete"/> says whether the text ended whole.</summary>
    internal static int Refusal(CompiledSchema schema, string text, out bool complete)
    {
        var state = new SchemaPrefix(schema);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (!state.TryAdvance(bytes[i]))
            {
                complete = false;
                return i;
            }
        }
        complete = state.IsComplete;
        return -1;
    }

    private static void AssertTaken(string schema, string text)
    {
        Assert.Equal(-1, Refusal(Compile(schema), text, out bool complete));
        Assert.True(complete, text);
    }

    private static void AssertRefusedAt(string schema, string text, int at)
    {
        Assert.Equal(at, Refusal(Compile(schema), text, out _));
    }

    private static SchemaPrefix After(CompiledSchema schema, string text)
    {
        var state = new SchemaPrefix(schema);
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            Assert.True(state.TryAdvance(b), text);
        }
        return state;
    }

    /// <summary>As in JSON mode, the run of whitespace between tokens is part of the key the schema's masks are cached by.</summary>
    [Fact]
    public void States_after_runs_of_whitespace_of_other_lengths_are_other_keys()
    {
        CompiledSchema schema = Compile(Person);
        Assert.NotEqual(After(schema, "{ "), After(schema, "{  "));
        Assert.NotEqual(After(schema, "{\n"), After(schema, "{ "));
        Assert.Equal(After(schema, "{ \"name\""), After(schema, "{\"name\""));
        Assert.Equal(After(schema, "{ \"name\"").GetHashCode(), After(schema, "{\"name\"").GetHashCode());
    }

    private const string Person = """
        {"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":4},"age":{"type":"integer"},
         "tags":{"type":"array","items":{"enum":["a","bc",1,null]},"minItems":1,"maxItems":2},"ok":{"type":["boolean","null"]}},
         "required":["name","tags"],"additionalProperties":false}
        """;

    [Theory]
    [InlineData("""{"name":"Tom","tags":["a"]}""")]
    [InlineData("""{"name":"Tomé","age":-12,"tags":["bc",1],"ok":null}""")]
    [InlineData("{ \"name\" : \"\\u00e9\\ud83d\\ude00\",\n  \"tags\" : [ null ] , \"ok\":true}")]
    [InlineData("""{"name":"T","tags":[1,null],"ok":false}""")]
    public void Instances_of_the_schema_are_taken_whole(string text) => AssertTaken(Person, text);

    [Theory]
    [InlineData("""{"tags":["a"]}""", 2)]                       // name is required and comes first
    [InlineData("""{"name":"Tom","age":1.5""", 21)]             // an integer has no fraction
    [InlineData("""{"name":"Tom","ok":true,"tags":[]}""", 15)]  // tags is required before ok: declared order
    [InlineData("""{"name":"Tom","tags":[]}""", 22)]            // minItems 1
    [InlineData("""{"name":"Tom","tags":["a","a","a"]}""", 29)] // maxItems 2
    [InlineData("""{"name":"Tom","tags":["b"]}""", 24)]         // enum miss ("bc" starts so)
    [InlineData("""{"name":"","tags":["a"]}""", 9)]             // minLength 1
    [InlineData("""{"name":"Tomas","tags":["a"]}""", 13)]       // maxLength 4
    [InlineData("""{"name":"Tom","tags":["a"],"x":1}""", 28)]   // no additional property
    [InlineData("""{"name":"Tom","tags":["a"]} """, 27)]        // nothing after the object
    [InlineData(""" {"name":"Tom","tags":["a"]}""", 0)]         // nor before it
    [InlineData("""{"name":"Tom","tags":["a"],"ok":1}""", 32)]  // boolean or null
    [InlineData("""{"name":"Tom","tags":[1 2]""", 24)]          // an enum's number ends at the whitespace after it
    public void What_the_schema_rejects_is_refused_at_the_byte_it_goes_wrong(string text, int at) => AssertRefusedAt(Person, text, at);

    [Fact]
    public void An_allOf_of_one_schema_is_that_schema()
    {
        // As generators wrap a $ref to give it a description.
        const string schema = """
            {"type":"object","properties":{"p":{"allOf":[{"$ref":"#/$defs/p"}],"description":"a point"}},"required":["p"],"additionalProperties":false,
             "$defs":{"p":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}}}
            """;
        AssertTaken(schema, """{"p":{"x":1}}""");
        AssertRefusedAt(schema, """{"p":{"y":1}}""", 7);
    }

    [Fact]
    public void An_enum_of_numbers_where_one_prefixes_another_ends_at_the_byte_after()
    {
        const string schema = """{"type":"object","properties":{"n":{"enum":[1,12,-3.5]}},"required":["n"],"additionalProperties":false}""";
        AssertTaken(schema, """{"n":1}""");
        AssertTaken(schema, """{"n":12}""");
        AssertTaken(schema, """{"n":-3.5}""");
        AssertRefusedAt(schema, """{"n":13}""", 6);
        AssertRefusedAt(schema, """{"n":123}""", 7);
    }

    [Fact]
    public void A_recursive_schema_nests_through_its_ref_and_ends()
    {
        const string schema = """
            {"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
             "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}}}
            """;
        AssertTaken(schema, """{"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]}""");
        AssertRefusedAt(schema, """{"v":1,"kids":[{"kids":[]}]}""", 17);
    }

    [Fact]
    public void Nesting_stops_at_64_levels_and_a_required_recursion_that_cannot_end_is_refused()
    {
        // A list of lists, any depth: at 64 levels only the close is left, and the reply still ends.
        const string schema = """{"type":"object","properties":{"l":{"$ref":"#/$defs/l"}},"additionalProperties":false,"$defs":{"l":{"type":"array","items":{"$ref":"#/$defs/l"}}}}""";
        string deep = """{"l":""" + new string('[', 63);
        Assert.Equal(-1, Refusal(Compile(schema), deep, out _));
        Assert.Equal(deep.Length, Refusal(Compile(schema), deep + "[", out _));
        AssertTaken(schema, deep + new string(']', 63) + "}");
        // Every node needs a child: no finite value.
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => Compile(
            """{"type":"object","properties":{"c":{"$ref":"#"}},"required":["c"],"additionalProperties":false}"""));
        Assert.Equal("#/properties/c", e.Path);
    }

    [Fact]
    public void A_required_chain_that_needs_more_levels_than_are_left_is_never_opened()
    {
        // "deep" needs 3 levels ({"d":{"d":{}}}); where fewer than that are left it is not offered, though a shallower branch (null) is.
        const string schema = """
            {"type":"object","properties":{"l":{"$ref":"#/$defs/l"}},"additionalProperties":false,
             "$defs":{"l":{"type":"array","items":{"anyOf":[{"$ref":"#/$defs/l"},{"$ref":"#/$defs/deep"}]}},
                      "deep":{"type":"object","properties":{"d":{"$ref":"#/$defs/deep2"}},"required":["d"],"additionalProperties":false},
                      "deep2":{"type":"object","properties":{"d":{"type":"object","additionalProperties":false}},"required":["d"],"additionalProperties":false}}}
            """;
        CompiledSchema compiled = Compile(schema);
        // At depth 62 (the object and 61 arrays) a "deep" object needs 3 more: 65 > 64.
        string at62 = """{"l":""" + new string('[', 61);
        Assert.Equal(-1, Refusal(compiled, at62, out _));
        Assert.Equal(at62.Length, Refusal(compiled, at62 + "{", out _));
        Assert.Equal(-1, Refusal(compiled, at62 + "[", out _));
        string at61 = """{"l":""" + new string('[', 60);
        Assert.Equal(-1, Refusal(compiled, at61 + """{"d":{"d":{}}}""", out _));
    }

    [Fact]
    public void Optional_properties_may_be_left_out_but_keep_their_order()
    {
        const string schema = """{"type":"object","properties":{"a":{"type":"null"},"b":{"type":"null"},"c":{"type":"null"}},"required":["b"],"additionalProperties":false}""";
        AssertTaken(schema, """{"b":null}""");
        AssertTaken(schema, """{"a":null,"b":null,"c":null}""");
        AssertTaken(schema, """{"b":null,"c":null}""");
        AssertRefusedAt(schema, """{"c":null}""", 2);
        AssertRefusedAt(schema, """{"b":null,"a":null}""", 11);
        AssertRefusedAt(schema, """{"a":null}""", 9);
    }

    [Fact]
    public void A_free_object_takes_any_keys_and_values_under_additionalProperties()
    {
        AssertTaken("""{"type":"object"}""", """{"x":[1,{"y":"z"}],"":null}""");
        const string ints = """{"type":"object","additionalProperties":{"type":"integer"}}""";
        AssertTaken(ints, """{"a":1,"b":2}""");
        AssertRefusedAt(ints, """{"a":"1"}""", 5);
        AssertRefusedAt("""{"type":"object","additionalProperties":false}""", """{"a":1}""", 1);
    }

    [Fact]
    public void Further_keys_come_after_the_declared_ones_once_the_required_are_written_and_never_spell_a_declared_name()
    {
        const string schema = """{"type":"object","properties":{"ab":{"type":"integer"},"é":{"type":"null"},"a\"b":{"type":"null"}},"required":["ab"],"additionalProperties":{"type":"string"}}""";
        AssertTaken(schema, """{"ab":1,"a":"x","abc":"y","":"","è":"z"}""");
        AssertTaken(schema, """{"ab":1,"é":null,"zz":"x"}""");
        AssertRefusedAt(schema, """{"x":"1","ab":1}""", 2);          // before the required "ab"
        AssertRefusedAt(schema, """{"ab":1,"zz":"x","é":null}""", 20);  // a declared property after a further key (at its closing quote: "éa" could still be one)...
        AssertRefusedAt(schema, """{"ab":1,"ab":"x"}""", 11);          // ...and a declared name is never a further key
        AssertRefusedAt(schema, """{"ab":1,"a\u0062":"x"}""", 11);    // nor spelled with an escape ("ab")
        AssertRefusedAt(schema, """{"ab":1,"zz\n":"x"}""", 11);        // a further key takes no escapes
        AssertRefusedAt(schema, """{"ab":1,"zz":1}""", 13);            // its value follows additionalProperties
        AssertRefusedAt(schema, """{"ab":1,"a\u0022b":"x"}""", 11);   // nor leaves the trie inside an escape (this is "a\"b")
        AssertTaken(schema, """{"ab":1,"a\"c":"x"}""");              // but may after one
    }

    [Fact]
    public void Keys_and_enum_strings_that_need_escapes_are_written_with_them()
    {
        const string schema = """{"type":"object","properties":{"a\"b\n":{"const":"x\\y\u0001é"}},"required":["a\"b\n"],"additionalProperties":false}""";
        AssertTaken(schema, "{\"a\\\"b\\n\":\"x\\\\y\\u0001é\"}");
    }

    [Fact]
    public void Equal_places_are_equal_states_whatever_came_before()
    {
        CompiledSchema schema = Compile(Person);
        static SchemaPrefix After(CompiledSchema s, string text)
        {
            var state = new SchemaPrefix(s);
            Assert.True(state.TryAdvance(Encoding.UTF8.GetBytes(text)));
            return state;
        }
        SchemaPrefix a = After(schema, """{"name":"Tom","tags":[1,""");
        SchemaPrefix b = After(schema, """{"name":"Al","tags":["bc",""");
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(After(schema, """{"name":"T"""), After(schema, """{"name":"To"""));
    }
}
