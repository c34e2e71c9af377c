using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Seeded random schemas of keywords beside anyOf and oneOf (type, required, properties, additionalProperties, a
/// discriminator) over branches with ranges, formats and enums: each compiles or is refused as a SchemaNotSupportedException,
/// and random walks of those that compile write only texts JsonSchema.Net accepts, never stranding. Along the walks,
/// states equal as mask-cache keys take the same bytes and step to equal states.
/// </summary>
public class SchemaBesideBranchesPropertyTests
{
    private static readonly string[] s_names = ["a", "b", "c"];

    private static JsonNode Property(Random rng) => rng.Next(7) switch
    {
        0 => new JsonObject { ["type"] = "integer", ["minimum"] = rng.Next(-3, 3), ["maximum"] = rng.Next(3, 9) },
        1 => new JsonObject { ["type"] = "string", ["format"] = rng.Next(2) == 0 ? "date" : "uuid" },
        2 => new JsonObject { ["type"] = "boolean" },
        3 => new JsonObject { ["enum"] = new JsonArray("x", 1, null) },
        4 => new JsonObject { ["type"] = new JsonArray("number", "null"), ["exclusiveMinimum"] = 0, ["maximum"] = 2.5 },
        5 => new JsonObject { ["type"] = "number", ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer", ["maximum"] = -1 }) },
        _ => new JsonObject(),
    };

    // An anyOf or oneOf with keywords beside it, its branches objects told apart by "k" (sometimes not), null or true.
    private static JsonObject Union(Random rng)
    {
        var union = new JsonObject();
        if (rng.Next(3) != 0)
        {
            union["type"] = rng.Next(3) switch { 0 => "object", 1 => new JsonArray("object", "null"), _ => new JsonArray("object", "string") };
        }
        var beside = new Dictionary<string, JsonNode>();
        foreach (string name in s_names)
        {
            if (rng.Next(3) == 0)
            {
                beside[name] = Property(rng);
            }
        }
        if (beside.Count > 0 && rng.Next(4) != 0)
        {
            union["properties"] = new JsonObject(beside.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value.DeepClone())));
        }
        var required = new JsonArray();
        if (rng.Next(2) == 0)
        {
            required.Add("k");
        }
        foreach (string name in beside.Keys.Where(_ => union["properties"] is not null && rng.Next(3) == 0))
        {
            required.Add(name);
        }
        if (required.Count > 0)
        {
            union["required"] = required;
        }
        if (rng.Next(6) == 0)
        {
            union["additionalProperties"] = rng.Next(2) == 0;
        }
        var branches = new JsonArray();
        for (int i = 0, count = rng.Next(1, 4); i < count; i++)
        {
            if (rng.Next(8) == 0)
            {
                branches.Add(rng.Next(2) == 0 ? new JsonObject { ["type"] = "null" } : JsonValue.Create(true));
                continue;
            }
            var properties = new JsonObject { ["k"] = new JsonObject { ["const"] = "t" + i } };
            foreach (string name in s_names.Where(_ => rng.Next(3) == 0))
            {
                properties[name] = beside.TryGetValue(name, out JsonNode? same) && rng.Next(4) != 0 ? same.DeepClone() : Property(rng);
            }
            var branch = new JsonObject { ["properties"] = properties };
            if (rng.Next(3) == 0)
            {
                branch["type"] = "object";
            }
            branch["required"] = new JsonArray([.. properties.Select(p => p.Key).Where(_ => rng.Next(2) == 0).Select(n => (JsonNode?)n)]);
            switch (rng.Next(4))
            {
                case 0:
                    branch["additionalProperties"] = false;
                    break;
                case 1:
                    branch["additionalProperties"] = new JsonObject { ["type"] = "integer", ["minimum"] = 0 };
                    break;
            }
            branches.Add(branch);
        }
        union[rng.Next(2) == 0 ? "anyOf" : "oneOf"] = branches;
        if (rng.Next(4) == 0)
        {
            union["discriminator"] = new JsonObject { ["propertyName"] = "k" };
        }
        return union;
    }

    [Fact]
    public void Random_unions_with_keywords_beside_write_only_valid_texts_and_keep_equal_states_equal()
    {
        var rng = new Random(2024);
        int compiled = 0, texts = 0;
        for (int n = 0; n < 500; n++)
        {
            JsonObject value = Union(rng);
            var schema = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["v"] = value }, ["required"] = new JsonArray("v"), ["additionalProperties"] = false };
            CompiledSchema automaton;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(schema.ToJsonString());
                automaton = JsonSchemaCompiler.Compile(doc.RootElement);
            }
            catch (SchemaNotSupportedException)
            {
                continue;
            }
            compiled++;
            // OpenAPI's discriminator is an annotation to JSON Schema, and an unknown keyword to JsonSchema.Net's dialect.
            value.Remove("discriminator");
            JsonSchema reference = JsonSchema.FromText(schema.ToJsonString());
            var seen = new Dictionary<SchemaPrefix, SchemaPrefix>();
            for (int walk = 0; walk < 6; walk++)
            {
                string text = Walk(automaton, rng, seen);
                using JsonDocument doc = JsonDocument.Parse(text);
                Assert.True(reference.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true }).IsValid, $"{text} is not valid under {schema.ToJsonString()}");
                texts++;
            }
        }
        Assert.True(compiled > 100 && texts == compiled * 6, $"{compiled} compiled, {texts} texts");
    }

    // Random printable bytes until the text is complete, closing more and more often; at every step some byte goes on,
    // and a state equal to one seen before takes the same bytes to equal states.
    private static string Walk(CompiledSchema schema, Random rng, Dictionary<SchemaPrefix, SchemaPrefix> seen)
    {
        var state = new SchemaPrefix(schema);
        var bytes = new List<byte>();
        for (int step = 0; !state.IsComplete; step++)
        {
            Assert.True(step < 5000, "the walk did not end");
            var allowed = new List<byte>();
            for (int b = 0x20; b < 0x7F; b++)
            {
                SchemaPrefix copy = state;
                if (copy.TryAdvance((byte)b))
                {
                    allowed.Add((byte)b);
                }
            }
            Assert.True(allowed.Count > 0, $"no byte continues {Encoding.UTF8.GetString([.. bytes])}");
            if (seen.TryGetValue(state, out SchemaPrefix earlier))
            {
                for (int b = 0; b < 256; b++)
                {
                    SchemaPrefix x = state, y = earlier;
                    bool taken = x.TryAdvance((byte)b);
                    Assert.True(taken == y.TryAdvance((byte)b) && (!taken || (x.Equals(y) && x.GetHashCode() == y.GetHashCode())),
                        $"equal states part at byte {b} after {Encoding.UTF8.GetString([.. bytes])}");
                }
            }
            else
            {
                seen[state] = state;
            }
            byte[] closers = [.. allowed.Where(b => b is (byte)'}' or (byte)']' or (byte)'"')];
            byte next = closers.Length > 0 && rng.NextDouble() < Math.Min(0.9, step / 60.0) ? closers[rng.Next(closers.Length)] : allowed[rng.Next(allowed.Count)];
            Assert.True(state.TryAdvance(next));
            bytes.Add(next);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }
}
