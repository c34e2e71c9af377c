using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// The schema automaton on schemas picked to break it: enums and keys that are prefixes of one another, escapes and
/// non-ASCII in literals and keys, recursion, nested counts, string lengths in code points. Random walks over every
/// byte (UTF-8 included) write only texts the reference validator (JsonSchema.Net) accepts, and every state a
/// breadth-first walk of the automaton reaches can still complete the text: no mask can lead into a dead end.
/// </summary>
public class SchemaAdversarialTests
{
    public static TheoryData<string> Schemas => new()
    {
        """{"type":"object","properties":{"t":{"$ref":"#/$defs/t"}},"required":["t"],"additionalProperties":false,"$defs":{"t":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/t"},"maxItems":2}},"required":["v"],"additionalProperties":false}}}""",
        """{"type":"object","properties":{"a":{"anyOf":[{"type":"string","maxLength":3},{"type":"number"},{"type":"null"}]}},"required":["a"]}""",
        """{"type":"object","properties":{"e":{"enum":["a","ab","abc","","a\"b","a\\b","\n","é","\u0000"]}},"required":["e"],"additionalProperties":false}""",
        """{"type":"object","properties":{"c":{"const":"\"\\\/\b\f\n\r\t\u0001é😀"}},"required":["c"],"additionalProperties":false}""",
        """{"type":"object","properties":{"i":{"type":"integer"},"n":{"type":"number"},"en":{"enum":[1,12,-1,1.5,10]}},"additionalProperties":false}""",
        """{"type":"object","properties":{"m":{"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2},"minItems":2,"maxItems":3}},"required":["m"],"additionalProperties":false}""",
        """{"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":3}},"required":["s"],"additionalProperties":false}""",
        """{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":{"type":"integer"}}""",
        """{"type":"object","properties":{},"additionalProperties":false}""",
        """{"type":"object","properties":{"a":{"type":"integer"},"ab":{"type":"integer"},"abc":{"type":"integer"}},"required":["ab"]}""",
        """{"type":"object","properties":{"a\"b":{"type":"integer"},"a\\b":{"type":"integer"},"é":{"type":"integer"},"\n":{"type":"integer"},"":{"type":"integer"}}}""",
        """{"type":"object","properties":{"a\"b":{"type":"integer"},"é":{"type":"integer"},"\n":{"type":"integer"}},"additionalProperties":false,"required":["\n"]}""",
        """{"type":"object","properties":{"d":{"type":"object","additionalProperties":{"type":"array","items":{"enum":[true,false,null,0]}}}},"required":["d"]}""",
        """{"type":"object","properties":{"x":{"oneOf":[{"type":"integer"},{"type":"string","minLength":1},{"type":"array","items":{"$ref":"#/properties/x"}}]}},"required":["x"],"additionalProperties":false}""",
        // Integer ranges: around zero, negative only, open above, one value; and an anyOf of two that meet.
        """{"type":"object","properties":{"a":{"type":"integer","minimum":-7,"maximum":12},"b":{"type":"integer","minimum":-40,"exclusiveMaximum":-3},"c":{"type":"integer","minimum":250},"d":{"type":"integer","minimum":42,"maximum":42},"e":{"anyOf":[{"type":"integer","maximum":9},{"type":"integer","minimum":10,"maximum":99},{"type":"null"}]}},"required":["a","b","c","d","e"],"additionalProperties":false}""",
        // Number ranges: between 0 and 1 exclusive, negative, one value; a bounded number or null.
        """{"type":"object","properties":{"p":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},"q":{"type":"number","minimum":-2.5,"maximum":-0.125},"r":{"type":"number","minimum":3.5,"maximum":3.5},"s":{"type":["number","null"],"minimum":10}},"required":["p","q","r","s"],"additionalProperties":false}""",
        // String formats, one of them nullable.
        """{"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":["string","null"],"format":"date-time"},"u":{"type":"string","format":"uuid"}},"required":["d","t","u"],"additionalProperties":false}""",
        // A tagged union at the top whose tags prefix one another and need escapes; one branch recurses through the union.
        """{"oneOf":[{"type":"object","properties":{"k":{"enum":["a","a\"b"]},"n":{"$ref":"#"}},"required":["k"],"additionalProperties":false},{"type":"object","properties":{"v":{"type":"integer"},"k":{"const":"ab"}},"required":["k","v"],"additionalProperties":{"type":"boolean"}},{"type":"object","properties":{"k":{"enum":["a\\","é"]}},"required":["k"]}]}""",
        // Unions within a union told apart by another property than theirs, one branch open to further keys.
        """{"anyOf":[{"anyOf":[{"type":"object","properties":{"t":{"const":"a"},"u":{"const":"x"}},"required":["t","u"],"additionalProperties":false},{"type":"object","properties":{"t":{"const":"b"},"u":{"enum":["y","yy"]}},"required":["t","u"],"additionalProperties":false}]},{"type":"object","properties":{"u":{"const":"z"},"t":{"const":"c"}},"required":["u","t"],"additionalProperties":{"type":"integer"}}]}""",
        // A union beside a string, an array, a number and null; a branch of the discriminator alone; tags in UTF-8, empty and prefixing.
        """{"type":"object","properties":{"v":{"anyOf":[{"type":"object","properties":{"k":{"enum":["a","ab","a\\","é","a\"b"]}},"required":["k"],"additionalProperties":false},{"type":"object","properties":{"k":{"enum":["abc","b","","😀"]},"x":{"type":"array","items":{"$ref":"#/properties/v"},"maxItems":2}},"required":["k"],"additionalProperties":true},{"type":"string","maxLength":2},{"type":"array","items":{"const":1},"maxItems":2},{"const":1},{"type":"null"}]}},"required":["v"],"additionalProperties":false}""",
    };

    private static (CompiledSchema Compiled, JsonSchema Reference) Both(string schema)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        return (JsonSchemaCompiler.Compile(doc.RootElement.Clone()), JsonSchema.FromText(schema));
    }

    [Theory]
    [MemberData(nameof(Schemas))]
    public void Walks_over_every_byte_write_only_valid_texts_and_never_strand(string schema)
    {
        (CompiledSchema compiled, JsonSchema reference) = Both(schema);
        var rng = new Random(5);
        for (int walk = 0; walk < 100; walk++)
        {
            string text = Walk(compiled, rng);
            using JsonDocument doc = JsonDocument.Parse(text);
            Assert.True(reference.Evaluate(doc.RootElement).IsValid, $"{text} is not valid under {schema}");
        }
    }

    // Lead bytes of characters that are one grapheme each, alone or after any other (Latin-1 letters, CJK, emoticons),
    // where the reference validator's grapheme count and JSON Schema's code points agree.
    private static readonly byte[] s_leads = [0xC3, 0xE4, 0xF0];

    // A random walk over the bytes the automaton allows, closing strings and containers more and more often; a free
    // choice keeps to printable ASCII (no escaped CR, which a following LF would join) and the leads above.
    private static string Walk(CompiledSchema schema, Random rng)
    {
        var state = new SchemaPrefix(schema);
        var bytes = new List<byte>();
        for (int step = 0; !state.IsComplete; step++)
        {
            Assert.True(step < 5000, $"no end after {Encoding.UTF8.GetString([.. bytes])}");
            var allowed = new List<byte>();
            for (int b = 0; b < 256; b++)
            {
                SchemaPrefix copy = state;
                if (copy.TryAdvance((byte)b))
                {
                    allowed.Add((byte)b);
                }
            }
            Assert.True(allowed.Count > 0, $"no byte continues {Encoding.UTF8.GetString([.. bytes])}");
            List<byte> free = [.. allowed.Where(b => (b is >= 0x20 and < 0x7F && !(b == 'r' && bytes.Count > 0 && bytes[^1] == '\\'))
                || b == '\n' || s_leads.Contains(b) || (b is >= 0x80 and < 0xC0 && !(bytes.Count > 0 && bytes[^1] == 0xF0)))];
            if (bytes.Count > 0 && bytes[^1] == 0xF0 && allowed.Contains(0x9F))
            {
                free = [0x9F]; // then 0x98: U+1F600 .. U+1F63F
            }
            else if (bytes.Count > 1 && bytes[^2] == 0xF0 && allowed.Contains(0x98))
            {
                free = [0x98];
            }
            List<byte> pick = free.Count > 0 ? free : allowed;
            byte[] closers = [.. pick.Where(b => b is (byte)'}' or (byte)']' or (byte)'"')];
            byte next = closers.Length > 0 && rng.NextDouble() < Math.Min(0.9, step / 100.0)
                ? closers[rng.Next(closers.Length)]
                : pick[rng.Next(pick.Count)];
            Assert.True(state.TryAdvance(next));
            bytes.Add(next);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>
    /// Every state reached (breadth first over all 256 bytes, up to a bound) leads to a complete text: the states that
    /// reach one are found backwards from the complete ones and from those left unexplored at the bound.
    /// </summary>
    [Theory]
    [MemberData(nameof(Schemas))]
    public void Every_state_reached_can_still_complete(string schema)
    {
        const int Bound = 3000;
        var ids = new Dictionary<SchemaPrefix, int>();
        var states = new List<SchemaPrefix>();
        var texts = new List<string>();
        var from = new List<List<int>>();
        var queue = new Queue<int>();
        int Reach(SchemaPrefix state, string text)
        {
            if (!ids.TryGetValue(state, out int id))
            {
                id = states.Count;
                ids[state] = id;
                states.Add(state);
                texts.Add(text);
                from.Add([]);
                queue.Enqueue(id);
            }
            return id;
        }
        Reach(new SchemaPrefix(Both(schema).Compiled), "");
        var expanded = new HashSet<int>();
        while (queue.Count > 0 && expanded.Count < Bound)
        {
            int id = queue.Dequeue();
            expanded.Add(id);
            for (int b = 0; b < 256; b++)
            {
                SchemaPrefix next = states[id];
                if (next.TryAdvance((byte)b))
                {
                    from[Reach(next, texts[id] + (b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"<{b:X2}>"))].Add(id);
                }
            }
        }
        var live = new bool[states.Count];
        var back = new Queue<int>(Enumerable.Range(0, states.Count).Where(i => states[i].IsComplete || !expanded.Contains(i)));
        foreach (int i in back)
        {
            live[i] = true;
        }
        while (back.TryDequeue(out int i))
        {
            foreach (int earlier in from[i].Where(e => !live[e]))
            {
                live[earlier] = true;
                back.Enqueue(earlier);
            }
        }
        int dead = Array.IndexOf(live, false);
        Assert.True(dead < 0, dead < 0 ? "" : $"a dead end after {texts[dead]}");
    }

    [Theory]
    // Lengths in code points: a surrogate pair's two escapes, a UTF-8 sequence or an escape is one character.
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","maxLength":1}},"required":["s"],"additionalProperties":false}""", """{"s":"\ud83d\ude00"}""", true)]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","maxLength":1}},"required":["s"],"additionalProperties":false}""", """{"s":"😀"}""", true)]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","maxLength":1}},"required":["s"],"additionalProperties":false}""", """{"s":"\ud83d"}""", false)]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","maxLength":1}},"required":["s"],"additionalProperties":false}""", """{"s":"\ude00"}""", false)]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","minLength":2}},"required":["s"],"additionalProperties":false}""", """{"s":"\ud83d\ude00"}""", false)]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":2}},"required":["s"],"additionalProperties":false}""", """{"s":"é\n"}""", true)]
    // Further keys: after the declared ones, never a declared name, never one spelled by an escape.
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"a":1,"ab":"x"}""", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"ab":"x","a":1}""", false)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"a":1,"a":"x"}""", false)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"\u0061":"x"}""", false)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"":"x"}""", true)]
    // An integer as an integer is written.
    [InlineData("""{"type":"object","properties":{"i":{"type":"integer"}},"additionalProperties":false}""", """{"i":-0}""", true)]
    [InlineData("""{"type":"object","properties":{"i":{"type":"integer"}},"additionalProperties":false}""", """{"i":1.0}""", false)]
    [InlineData("""{"type":"object","properties":{"i":{"type":"integer"}},"additionalProperties":false}""", """{"i":01}""", false)]
    public void Edge_texts_are_taken_or_refused_as_the_schema_says(string schema, string text, bool taken)
    {
        int at = SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(schema), text, out bool complete);
        Assert.Equal(taken, at < 0 && complete);
    }
}
