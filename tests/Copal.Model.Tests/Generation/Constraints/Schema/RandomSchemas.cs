using System.Text.Json;
using System.Text.Json.Nodes;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Seeded random schemas from the subset structured outputs takes (every keyword, $refs and recursion among them), and
/// random instances valid under them, for the property tests: the automaton is checked against an independent
/// validator (JsonSchema.Net), never against itself.
/// </summary>
internal sealed class RandomSchemas(int seed)
{
    private readonly Random _rng = new(seed);
    private static readonly string[] s_names = ["a", "bb", "id", "name", "x y", "q\"t", "é"];
    private static readonly string[] s_words = ["red", "green", "blue", "re", "", "a\\b"];

    public Random Rng => _rng;

    /// <summary>A schema whose top level is an object, nested about <paramref name="depth"/> levels.</summary>
    public JsonObject Next(int depth = 3)
    {
        JsonObject root = Object(depth, strictObject: true);
        if (_rng.Next(3) == 0)
        {
            // A recursive definition: a tree of such nodes, reached through $ref.
            root["$defs"] = new JsonObject
            {
                ["tree"] = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject
                    {
                        ["v"] = Leaf(),
                        ["kids"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = "#/$defs/tree" }, ["maxItems"] = 2 },
                    },
                    ["required"] = new JsonArray("v"),
                    ["additionalProperties"] = false,
                },
            };
            ((JsonObject)root["properties"]!)["t"] = new JsonObject { ["$ref"] = "#/$defs/tree", ["description"] = "a tree" };
        }
        return root;
    }

    private JsonNode Value(int depth) => (depth > 0 ? _rng.Next(9) : 9) switch
    {
        0 or 1 => Object(depth - 1, strictObject: _rng.Next(4) != 0),
        2 or 3 => Array(depth - 1),
        4 => new JsonObject { ["anyOf"] = new JsonArray(Object(depth - 1, strictObject: true), new JsonObject { ["type"] = "string", ["maxLength"] = 3 }, new JsonObject { ["type"] = "null" }) },
        5 => new JsonObject { ["oneOf"] = new JsonArray(Array(depth - 1), new JsonObject { ["type"] = "integer" }, new JsonObject { ["enum"] = new JsonArray("on", "off") }) },
        6 => Union(depth - 1),
        _ => Leaf(),
    };

    // Objects of two or three shapes told apart by "kind" (a const or an enum of strings, declared anywhere among the
    // properties), as Pydantic writes a tagged union; sometimes beside a string.
    private JsonObject Union(int depth)
    {
        string[][] tags = [["circle"], ["square", "rect"], ["é", "c\\"]];
        var branches = new JsonArray();
        foreach (string[] tag in tags.Take(_rng.Next(2, 4)))
        {
            JsonObject shape = Object(depth, strictObject: true);
            var properties = (JsonObject)shape["properties"]!;
            var entries = properties.Select(p => (p.Key, Value: p.Value!.DeepClone())).ToList();
            properties.Clear();
            JsonNode kind = tag.Length == 1 && _rng.Next(2) == 0
                ? new JsonObject { ["const"] = tag[0] }
                : new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. tag.Select(t => (JsonNode?)t)]) };
            entries.Insert(_rng.Next(entries.Count + 1), ("kind", kind));
            foreach ((string key, JsonNode value) in entries)
            {
                properties[key] = value;
            }
            ((JsonArray)shape["required"]!).Add("kind");
            branches.Add(shape);
        }
        if (_rng.Next(3) == 0)
        {
            branches.Add(new JsonObject { ["type"] = "string", ["maxLength"] = 2 });
        }
        return new JsonObject { [_rng.Next(2) == 0 ? "anyOf" : "oneOf"] = branches };
    }

    private JsonNode Leaf()
    {
        switch (_rng.Next(12))
        {
            case 0:
                var s = new JsonObject { ["type"] = "string" };
                int min = _rng.Next(3);
                if (_rng.Next(2) == 0)
                {
                    s["minLength"] = min;
                }
                if (_rng.Next(2) == 0)
                {
                    s["maxLength"] = min + _rng.Next(4);
                }
                return s;
            case 1:
                var integer = new JsonObject { ["type"] = "integer", ["title"] = "n" };
                int low = _rng.Next(-120, 60);
                switch (_rng.Next(4))
                {
                    case 0:
                        break;
                    case 1:
                        integer["minimum"] = low;
                        integer["maximum"] = low + _rng.Next(0, 150);
                        break;
                    case 2:
                        integer[_rng.Next(2) == 0 ? "minimum" : "exclusiveMaximum"] = low;
                        break;
                    default:
                        integer["exclusiveMinimum"] = low;
                        integer["maximum"] = low + 1 + _rng.Next(0, 30);
                        break;
                }
                return integer;
            case 2:
                var number = new JsonObject { ["type"] = "number" };
                if (_rng.Next(2) == 0)
                {
                    double from = _rng.Next(-80, 80) / 8.0;
                    number[_rng.Next(2) == 0 ? "minimum" : "exclusiveMinimum"] = from;
                    number[_rng.Next(2) == 0 ? "maximum" : "exclusiveMaximum"] = from + (_rng.Next(1, 400) / 4.0);
                }
                return number;
            case 3:
                return new JsonObject { ["type"] = "boolean" };
            case 4:
                return new JsonObject { ["type"] = new JsonArray("string", "null"), ["maxLength"] = 5 };
            case 5:
                return new JsonObject { ["enum"] = new JsonArray([.. s_words.Take(1 + _rng.Next(s_words.Length)).Select(w => (JsonNode?)w), 1, 12, -0.5, null, true]) };
            case 6:
                return new JsonObject { ["const"] = s_words[_rng.Next(s_words.Length)] };
            case 7:
                return new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("x", "yy", 3) };
            case 8:
                return new JsonObject();
            case 9:
                return new JsonObject { ["type"] = new JsonArray("integer", "number", "null") };
            case 10:
                return new JsonObject { ["type"] = "null", ["default"] = null, ["examples"] = new JsonArray() };
            default:
                return JsonValue.Create(true);
        }
    }

    private JsonObject Object(int depth, bool strictObject)
    {
        if (!strictObject)
        {
            var free = new JsonObject { ["type"] = "object" };
            switch (_rng.Next(3))
            {
                case 0:
                    free["additionalProperties"] = Value(Math.Min(depth, 1));
                    break;
                case 1:
                    free["additionalProperties"] = false;
                    break;
            }
            return free;
        }
        var properties = new JsonObject();
        var required = new JsonArray();
        foreach (string name in s_names.OrderBy(_ => _rng.Next()).Take(_rng.Next(1, 5)))
        {
            properties[name] = Value(depth);
            if (_rng.Next(2) == 0)
            {
                required.Add(name);
            }
        }
        var shape = new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required };
        switch (_rng.Next(6))
        {
            case 0:
                break; // absent: further keys with any value
            case 1:
                shape["additionalProperties"] = true;
                break;
            case 2:
                shape["additionalProperties"] = new JsonObject { ["type"] = "integer" };
                break;
            default:
                shape["additionalProperties"] = false;
                break;
        }
        return shape;
    }

    private JsonObject Array(int depth)
    {
        var array = new JsonObject { ["type"] = "array" };
        if (_rng.Next(4) != 0)
        {
            array["items"] = Value(depth);
        }
        int min = _rng.Next(3);
        if (min > 0)
        {
            array["minItems"] = min;
        }
        if (_rng.Next(2) == 0)
        {
            array["maxItems"] = min + _rng.Next(3);
        }
        return array;
    }

    /// <summary>A random instance valid under <paramref name="schema"/> (within <paramref name="root"/>, for $refs), properties in declared order.</summary>
    public JsonNode? Instance(JsonNode schema, JsonNode root, int depth = 0)
    {
        if (schema is JsonValue b)
        {
            return b.GetValue<bool>() ? AnyValue(depth) : throw new InvalidOperationException("false has no instance");
        }
        var s = (JsonObject)schema;
        if (s["$ref"] is JsonNode r)
        {
            JsonNode target = root;
            foreach (string part in r.GetValue<string>().TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                target = target[part]!;
            }
            return Instance(target, root, depth);
        }
        if ((s["anyOf"] ?? s["oneOf"]) is JsonArray branches)
        {
            return Instance(branches[_rng.Next(branches.Count)]!, root, depth);
        }
        if (s["const"] is JsonNode c)
        {
            return c.DeepClone();
        }
        if (s["enum"] is JsonArray values)
        {
            JsonNode?[] fitting = [.. values.Where(v => Fits(v, s["type"]))];
            return fitting[_rng.Next(fitting.Length)]?.DeepClone();
        }
        string[] types = s["type"] switch
        {
            null => ["object", "array", "string", "number", "integer", "boolean", "null"],
            JsonArray list => [.. list.Select(t => t!.GetValue<string>())],
            JsonNode t => [t.GetValue<string>()],
        };
        string type = types[_rng.Next(types.Length)];
        switch (type)
        {
            case "object":
                var o = new JsonObject();
                if (s["properties"] is JsonObject props)
                {
                    var req = (s["required"] as JsonArray)?.Select(n => n!.GetValue<string>()).ToHashSet() ?? [];
                    // A union's discriminator ("kind") is written first, wherever it is declared.
                    foreach ((string name, JsonNode? ps) in props.OrderBy(p => p.Key == "kind" ? 0 : 1))
                    {
                        if (req.Contains(name) || _rng.Next(2) == 0)
                        {
                            o[name] = Instance(ps!, root, depth + 1);
                        }
                    }
                }
                // Further keys after the declared ones, where additionalProperties allows them (none a declared name).
                if (s["additionalProperties"] is not JsonValue { } f || f.GetValueKind() != JsonValueKind.False)
                {
                    string[] keys = ["k1", "b", "nam", "idx", "ñ", "a b", ""];
                    foreach (string key in keys.Where(k => s["properties"] is not JsonObject p || !p.ContainsKey(k)).OrderBy(_ => _rng.Next()).Take(_rng.Next(3)))
                    {
                        o[key] = Instance(s["additionalProperties"] ?? JsonValue.Create(true), root, depth + 1);
                    }
                }
                return o;
            case "array":
                int min = s["minItems"]?.GetValue<int>() ?? 0;
                int max = s["maxItems"]?.GetValue<int>() ?? min + 2;
                var a = new JsonArray();
                for (int i = min + _rng.Next(max - min + 1); i > 0; i--)
                {
                    a.Add(Instance(s["items"] ?? JsonValue.Create(true), root, depth + 1));
                }
                return a;
            case "string":
                int lo = s["minLength"]?.GetValue<int>() ?? 0;
                int hi = s["maxLength"]?.GetValue<int>() ?? lo + 4;
                return Text(lo + _rng.Next(hi - lo + 1));
            case "integer":
                long? from = s["minimum"]?.GetValue<int>() ?? (s["exclusiveMinimum"]?.GetValue<int>() + 1);
                long? to = s["maximum"]?.GetValue<int>() ?? (s["exclusiveMaximum"]?.GetValue<int>() - 1);
                long least = from ?? ((to ?? 50) - 100);
                long most = to ?? (least + 100);
                return least + _rng.NextInt64(Math.Max(1, most - least + 1));
            case "number":
                if ((s["minimum"] ?? s["exclusiveMinimum"]) is JsonNode low)
                {
                    // Strictly between the bounds (they are 1/4 apart at least), in eighths.
                    double bottom = low.GetValue<double>(), top = (s["maximum"] ?? s["exclusiveMaximum"])!.GetValue<double>();
                    return bottom + (Math.Max(1, _rng.Next(1, (int)((top - bottom) * 8))) / 8.0);
                }
                return _rng.Next(3) switch { 0 => _rng.Next(-9, 9), 1 => _rng.Next(-100, 100) / 8.0, _ => 1.5e21 };
            case "boolean":
                return _rng.Next(2) == 0;
            default:
                return null;
        }
    }

    private static bool Fits(JsonNode? value, JsonNode? type) => type is null
        || (value?.GetValueKind() ?? JsonValueKind.Null) switch
        {
            JsonValueKind.String => type.ToJsonString().Contains("string"),
            JsonValueKind.Number => type.ToJsonString().Contains("number") || type.ToJsonString().Contains("integer"),
            JsonValueKind.Null => type.ToJsonString().Contains("null"),
            _ => type.ToJsonString().Contains("boolean"),
        };

    private JsonNode? AnyValue(int depth) => (depth > 3 ? _rng.Next(3, 7) : _rng.Next(7)) switch
    {
        0 => new JsonObject { ["k"] = AnyValue(depth + 1) },
        1 => new JsonArray(AnyValue(depth + 1), 2),
        3 => Text(_rng.Next(4)),
        4 => 0.25,
        5 => false,
        6 => null,
        _ => new JsonObject(),
    };

    // Characters of one code point and one grapheme each (the reference validator counts graphemes, the schema code
    // points: no combining marks, no CR LF pair), some of them written with escapes.
    private static readonly string[] s_chars = ["a", "Z", " ", "é", "€", "😀", "\"", "\\", "\n", "/", "\t", "<"];

    private JsonNode Text(int length) => string.Concat(Enumerable.Range(0, length).Select(_ => s_chars[_rng.Next(s_chars.Length)]));
}
