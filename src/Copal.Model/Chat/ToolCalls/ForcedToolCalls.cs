using System.Text.Json;
using System.Text.Json.Nodes;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// A tool call the request forces (OpenAI's tool_choice "required" or a named function; M.E.AI's RequireAny and
/// RequireSpecific), made by structured outputs as vLLM makes it: the reply is held to a JSON schema and read back as
/// the call. The model is still shown the tools in its own format; only its reply's shape is fixed.
/// </summary>
public static class ForcedToolCalls
{
    /// <summary>
    /// The schema the reply is held to. A named function (or the only one offered): its parameters, the reply being the
    /// call's arguments. Any of several: <c>{"name": one of theirs, "arguments": …}</c>, a tagged union whose
    /// arguments are held to the parameters of the function the name picks (as vLLM's "required" schema does).
    /// </summary>
    /// <param name="parameters">Each offered function's parameters schema by its name, in order (null: it takes none).</param>
    /// <param name="name">The function to call, or null for any of them.</param>
    public static JsonElement Schema(IReadOnlyList<KeyValuePair<string, JsonElement?>> parameters, string? name)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        string? only = name ?? (parameters.Count == 1 ? parameters[0].Key : null);
        if (only is not null)
        {
            return parameters.Single(p => p.Key == only).Value ?? JsonSerializer.SerializeToElement(NoParameters());
        }
        var branches = new JsonArray();
        for (int i = 0; i < parameters.Count; i++)
        {
            branches.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["const"] = parameters[i].Key },
                    ["arguments"] = parameters[i].Value is JsonElement schema ? Embedded(schema, $"{BranchPointer(i)}") : NoParameters(),
                },
                ["required"] = new JsonArray("name", "arguments"),
                ["additionalProperties"] = false,
            });
        }
        return JsonSerializer.SerializeToElement(new JsonObject { ["anyOf"] = branches });
    }

    private static JsonObject NoParameters() => new() { ["type"] = "object", ["properties"] = new JsonObject(), ["additionalProperties"] = false };

    // Where branch i's arguments schema sits in the union.
    private static string BranchPointer(int i) => $"#/anyOf/{i}/properties/arguments";

    // A function's parameters moved from the top of a schema to the pointer at: its references within itself ("#",
    // "#/$defs/x"; any other is refused as it stands) made to point where it now is, and its top-level $id, which only a schema's top may have, dropped.
    // Arguments are an object, as they are where the parameters are the whole schema (its top must be one): true, {}
    // or a schema of no type or of several is narrowed to objects, else a reply could name the function with
    // arguments "x", which is no call.
    private static JsonNode Embedded(JsonElement schema, string at)
    {
        JsonNode node = JsonNode.Parse(schema.GetRawText())!;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.True)
        {
            return new JsonObject { ["type"] = "object" };
        }
        if (node is JsonObject top)
        {
            top.Remove("$id");
            bool typed = top.ContainsKey("$ref") || top.ContainsKey("anyOf") || top.ContainsKey("oneOf") || top.ContainsKey("enum") || top.ContainsKey("const");
            if (!typed && (!top.TryGetPropertyValue("type", out JsonNode? type)
                || (type is JsonArray types && types.Any(t => t is JsonValue tv && tv.GetValueKind() == JsonValueKind.String && tv.GetValue<string>() == "object"))))
            {
                top["type"] = "object";
            }
        }
        Repoint(node, at);
        return node;
    }

    private static void Repoint(JsonNode? node, string at)
    {
        switch (node)
        {
            case JsonObject o:
                foreach ((string key, JsonNode? value) in o.ToList())
                {
                    if (key == "$ref" && value is JsonValue v && v.TryGetValue(out string? reference) && (reference == "#" || reference.StartsWith("#/", StringComparison.Ordinal)))
                    {
                        o[key] = at + reference[1..];
                    }
                    else
                    {
                        Repoint(value, at);
                    }
                }
                break;
            case JsonArray a:
                foreach (JsonNode? item in a)
                {
                    Repoint(item, at);
                }
                break;
        }
    }

    /// <summary>
    /// What the engine said of a forced call's schema, as the caller gave it: without the "response_format " lead (the
    /// caller gave no response format, only the tools whose parameters the schema is), and, of a union of several
    /// functions, naming the function and the place within its parameters.
    /// </summary>
    /// <param name="message">The engine's refusal.</param>
    /// <param name="names">The functions offered, in order (those of <see cref="Schema"/>'s union).</param>
    /// <param name="callee">The function whose parameters the schema is; null for the union.</param>
    public static string SchemaProblem(string message, IReadOnlyList<string> names, string? callee)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(names);
        message = message.StartsWith("response_format ", StringComparison.Ordinal) ? message["response_format ".Length..] : message;
        if (callee is not null)
        {
            return $"the parameters of '{callee}' cannot be held to: {message}";
        }
        // The place is the first " at #/anyOf/i/properties/arguments" that ends there or goes on into them (1 is not
        // 10); the reason after it may quote a required name or a value that spells another function's place.
        int found = -1, function = -1, length = 0;
        for (int i = 0; i < names.Count; i++)
        {
            string place = " at " + BranchPointer(i);
            for (int at = message.IndexOf(place, StringComparison.Ordinal); at >= 0 && (found < 0 || at < found); at = message.IndexOf(place, at + 1, StringComparison.Ordinal))
            {
                if (message.Length > at + place.Length && message[at + place.Length] is '/' or ' ')
                {
                    (found, function, length) = (at, i, place.Length);
                    break;
                }
            }
        }
        if (function >= 0)
        {
            // "at #/anyOf/1/properties/arguments/properties/x " → "at #/properties/x ", and a $ref quoted in the
            // reason as the caller wrote it ("#/$defs/x", not where the union moved it).
            string rest = message[(found + length)..];
            string moved = "\"" + BranchPointer(function);
            rest = rest.Replace(moved, "\"#", StringComparison.Ordinal);
            return $"the parameters of '{names[function]}' cannot be held to: {message[..found]} at #{rest}";
        }
        return $"the call cannot be held to: {message}";
    }

    /// <summary>The function a forced reply calls when its schema is the function's own (named, or the only one); null when the reply names it.</summary>
    public static string? Callee(IReadOnlyList<string> names, string? name) => name ?? (names.Count == 1 ? names[0] : null);
}
