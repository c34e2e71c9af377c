using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// The schema automaton against an independent validator (JsonSchema.Net), over many seeded random schemas: every text
/// it lets a random walk write is valid (soundness) and the walk never strands (no dead end); every valid instance,
/// compact or indented, is taken byte by byte (completeness, in declared property order); and broken instances are refused.
/// </summary>
public class SchemaPropertyTests
{
    private const int Schemas = 150;

    private static readonly JsonSerializerOptions s_compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions s_indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = true };

    private static (CompiledSchema Compiled, JsonSchema Reference) Both(JsonObject schema)
    {
        string text = schema.ToJsonString(s_compact);
        using JsonDocument doc = JsonDocument.Parse(text);
        return (JsonSchemaCompiler.Compile(doc.RootElement.Clone()), JsonSchema.FromText(text));
    }

    private static bool Valid(JsonSchema reference, string text)
    {
        using JsonDocument doc = JsonDocument.Parse(text);
        return reference.Evaluate(doc.RootElement).IsValid;
    }

    [Fact]
    public void The_reference_validator_counts_a_string_as_this_suite_assumes()
    {
        // JsonSchema.Net counts graphemes where JSON Schema (and the automaton) counts code points: "e" and a combining
        // acute, or CR LF, are two characters but one grapheme. The generators keep to characters that are one code
        // point and one grapheme each, where both counts agree.
        JsonSchema two = JsonSchema.FromText("""{"minLength":2,"maxLength":2}""");
        using JsonDocument emoji = JsonDocument.Parse("\"a😀\"");
        Assert.True(two.Evaluate(emoji.RootElement).IsValid);
        using JsonDocument combining = JsonDocument.Parse("\"e\\u0301\"");
        Assert.False(two.Evaluate(combining.RootElement).IsValid);
    }

    [Fact]
    public void Random_walks_write_only_valid_texts_and_never_strand()
    {
        var schemas = new RandomSchemas(seed: 11);
        int completed = 0;
        for (int n = 0; n < Schemas; n++)
        {
            JsonObject schema = schemas.Next();
            (CompiledSchema compiled, JsonSchema reference) = Both(schema);
            for (int walk = 0; walk < 4; walk++)
            {
                string text = Walk(compiled, schemas.Rng, out bool complete);
                Assert.True(complete, $"walk {walk} of {schema.ToJsonString()} did not end: {text}");
                Assert.True(Valid(reference, text), $"{text} is not valid under {schema.ToJsonString()}");
                completed++;
            }
        }
        Assert.Equal(Schemas * 4, completed);
    }

    // Chooses random allowed bytes (printable ASCII and whitespace; other bytes where none of those goes), closing strings and containers more and more often,
    // until the text is complete; at every step some byte must be allowed.
    private static string Walk(CompiledSchema schema, Random rng, out bool complete)
    {
        var state = new SchemaPrefix(schema);
        var bytes = new List<byte>();
        var allowed = new List<byte>();
        for (int step = 0; step < 20_000 && !state.IsComplete; step++)
        {
            allowed.Clear();
            for (int b = 0x09; b < 0x7F; b++)
            {
                SchemaPrefix copy = state;
                // Not an escaped CR (with a following LF it is one grapheme to the reference validator).
                if ((b >= 0x20 || b is 0x09 or 0x0A or 0x0D) && !(b == 'r' && bytes.Count > 0 && bytes[^1] == '\\') && copy.TryAdvance((byte)b))
                {
                    allowed.Add((byte)b);
                }
            }
            if (allowed.Count == 0)
            {
                // UTF-8 only where nothing else goes (a key or enum value such as "é"): a free string stays ASCII.
                for (int b = 0x80; b <= 0xFF; b++)
                {
                    SchemaPrefix copy = state;
                    if (copy.TryAdvance((byte)b))
                    {
                        allowed.Add((byte)b);
                    }
                }
            }
            Assert.True(allowed.Count > 0, $"no byte continues {Encoding.UTF8.GetString([.. bytes])}");
            byte[] closers = [.. allowed.Where(b => b is (byte)'}' or (byte)']' or (byte)'"')];
            byte next = closers.Length > 0 && rng.NextDouble() < Math.Min(0.95, step / 200.0)
                ? closers[rng.Next(closers.Length)]
                : allowed[rng.Next(allowed.Count)];
            Assert.True(state.TryAdvance(next));
            bytes.Add(next);
        }
        complete = state.IsComplete;
        return Encoding.UTF8.GetString([.. bytes]);
    }

    [Fact]
    public void Valid_instances_compact_and_indented_are_taken_byte_by_byte()
    {
        var schemas = new RandomSchemas(seed: 12);
        for (int n = 0; n < Schemas; n++)
        {
            JsonObject schema = schemas.Next();
            (CompiledSchema compiled, JsonSchema reference) = Both(schema);
            for (int i = 0; i < 4; i++)
            {
                JsonNode instance = schemas.Instance(schema, schema)!;
                foreach (JsonSerializerOptions options in (JsonSerializerOptions[])[s_compact, s_indented])
                {
                    string text = instance.ToJsonString(options);
                    if (text.Split('\n').Any(line => line.Length - line.TrimStart(' ').Length > 20))
                    {
                        continue; // indented past ten levels: more than a whitespace run may hold (as in JSON mode)
                    }
                    Assert.True(Valid(reference, text), $"the generator's {text} is not valid under {schema.ToJsonString()}");
                    int at = SchemaPrefixTests.Refusal(compiled, text, out bool complete);
                    Assert.True(at < 0, $"byte {at} of {text} refused under {schema.ToJsonString()}");
                    Assert.True(complete, text);
                }
            }
        }
    }

    [Fact]
    public void Broken_instances_are_refused_at_some_byte()
    {
        var schemas = new RandomSchemas(seed: 13);
        int broken = 0;
        for (int n = 0; n < Schemas; n++)
        {
            JsonObject schema = schemas.Next();
            (CompiledSchema compiled, JsonSchema reference) = Both(schema);
            var instance = (JsonObject)schemas.Instance(schema, schema)!;
            var properties = (JsonObject)schema["properties"]!;
            var required = ((JsonArray)schema["required"]!).Select(r => r!.GetValue<string>()).ToList();
            var candidates = new List<JsonObject>();
            // An extra property.
            JsonObject extra = (JsonObject)instance.DeepClone();
            extra["zz"] = 1;
            candidates.Add(extra);
            // A required property left out.
            if (required.Count > 0)
            {
                JsonObject missing = (JsonObject)instance.DeepClone();
                missing.Remove(required[0]);
                candidates.Add(missing);
            }
            // A declared property left out, written last with a wrong value (where further keys are allowed, it must not pass as one).
            foreach ((string name, _) in properties.Where(p => !instance.ContainsKey(p.Key)))
            {
                foreach (JsonNode wrong in (JsonNode[])[JsonValue.Create("zzz-not-listed"), new JsonArray(new JsonObject { ["zz"] = 1 })])
                {
                    JsonObject late = (JsonObject)instance.DeepClone();
                    late["zz"] = 1;
                    late[name] = wrong.DeepClone();
                    candidates.Add(late);
                }
            }
            // A value of the wrong type, or off the enum.
            foreach ((string name, JsonNode? value) in instance)
            {
                foreach (JsonNode? wrong in (JsonNode?[])[JsonValue.Create("zzz-not-listed"), JsonValue.Create(0.5), new JsonArray(new JsonObject { ["zz"] = 1 }), JsonValue.Create(false)])
                {
                    JsonObject changed = (JsonObject)instance.DeepClone();
                    changed[name] = wrong?.DeepClone();
                    candidates.Add(changed);
                }
            }
            foreach (JsonObject candidate in candidates)
            {
                string text = candidate.ToJsonString(s_compact);
                if (Valid(reference, text))
                {
                    continue; // the change happened to fit the schema
                }
                int at = SchemaPrefixTests.Refusal(compiled, text, out bool complete);
                Assert.True(at >= 0 || !complete, $"{text} was taken whole though it is invalid under {schema.ToJsonString()}");
                broken++;
            }
        }
        Assert.True(broken > Schemas, $"only {broken} broken instances were tried");
    }
}
