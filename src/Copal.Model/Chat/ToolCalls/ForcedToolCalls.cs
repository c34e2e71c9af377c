using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// A tool call the request forces (OpenAI's tool_choice "required" or a named function; M.E.AI's RequireAny and
/// RequireSpecific), made by structured outputs as vLLM makes it: the reply is held to a JSON schema and read back as
/// the call. The model is still shown the tools in its own format; only its reply's shape is fixed.
/// </summary>
internal static class ForcedToolCalls
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
        // Written, not built as JsonNodes: parameters with a key twice (JSON allows it) reach the compiler as they came,
        // refused there as where they are the whole schema, rather than failing here.
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("anyOf");
            for (int i = 0; i < parameters.Count; i++)
            {
                writer.WriteStartObject();
                writer.WriteString("type", "object");
                writer.WriteStartObject("properties");
                writer.WriteStartObject("name");
                writer.WriteString("const", parameters[i].Key);
                writer.WriteEndObject();
                writer.WritePropertyName("arguments");
                if (parameters[i].Value is JsonElement schema)
                {
                    WriteEmbedded(writer, schema, BranchPointer(i));
                }
                else
                {
                    NoParameters().WriteTo(writer);
                }
                writer.WriteEndObject();
                writer.WriteStartArray("required");
                writer.WriteStringValue("name");
                writer.WriteStringValue("arguments");
                writer.WriteEndArray();
                writer.WriteBoolean("additionalProperties", false);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        using JsonDocument union = JsonDocument.Parse(buffer.WrittenMemory);
        return union.RootElement.Clone();
    }

    private static JsonObject NoParameters() => new() { ["type"] = "object", ["properties"] = new JsonObject(), ["additionalProperties"] = false };

    // Where branch i's arguments schema sits in the union.
    private static string BranchPointer(int i) => $"#/anyOf/{i}/properties/arguments";

    // A function's parameters moved from the top of a schema to the pointer at: its references within itself ("#",
    // "#/$defs/x"; any other is refused as it stands) made to point where it now is, and its top-level $id, which only
    // a schema's top may have, dropped. Arguments are an object, as they are where the parameters are the whole schema
    // (its top must be one), else a reply could name the function with arguments "x", which is no call: true, {} or
    // a schema of no type or of several is narrowed to objects; one whose type leaves out objects takes no arguments
    // (false: the union never names the function, as for parameters false); an enum, const, anyOf or oneOf gets
    // "type": "object" beside it (an enum's values are never objects, so it too takes none); and a $ref or allOf, which
    // take nothing beside them, goes into an anyOf of one branch with the type beside it.
    private static void WriteEmbedded(Utf8JsonWriter writer, JsonElement schema, string at)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            writer.WriteStartObject();
            writer.WriteString("type", "object");
            writer.WriteEndObject();
            return;
        }
        if (schema.ValueKind != JsonValueKind.Object)
        {
            Write(writer, schema, at);
            return;
        }
        bool hasType = false, objects = false, typeRead = true;
        JsonProperty? wrapper = Wrapper(schema);
        foreach (JsonProperty p in schema.EnumerateObject())
        {
            if (p.NameEquals("type"))
            {
                hasType = true;
                // A type the compiler will refuse (a number, a misspelled name) is left for it to name.
                typeRead = p.Value.ValueKind == JsonValueKind.String ? TypeName(p.Value)
                    : p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() > 0 && p.Value.EnumerateArray().All(TypeName);
                objects = p.Value.ValueKind == JsonValueKind.String ? p.Value.ValueEquals("object")
                    : p.Value.ValueKind == JsonValueKind.Array && p.Value.EnumerateArray().Any(t => t.ValueKind == JsonValueKind.String && t.ValueEquals("object"));
            }
        }
        if (hasType && typeRead && !objects)
        {
            writer.WriteBooleanValue(false);
            return;
        }
        bool wrap = wrapper is not null;
        writer.WriteStartObject();
        foreach (JsonProperty p in schema.EnumerateObject())
        {
            if (p.NameEquals("$id") || (wrap && p.NameEquals(wrapper!.Value.Name)))
            {
                continue;
            }
            if (p.NameEquals("type") && typeRead)
            {
                writer.WriteString("type", "object");
                continue;
            }
            WriteMember(writer, p, at);
        }
        if (wrap)
        {
            writer.WriteStartArray("anyOf");
            writer.WriteStartObject();
            WriteMember(writer, wrapper!.Value, at);
            writer.WriteEndObject();
            writer.WriteEndArray();
        }
        if (!hasType)
        {
            writer.WriteString("type", "object");
        }
        writer.WriteEndObject();
    }

    // The $ref or allOf at the top of parameters that goes into an anyOf of one branch, with "type": "object" beside
    // it; null where there is none, or where a type, anyOf, oneOf, enum or const is there too, or both a $ref and an
    // allOf (a type narrows as it stands; beside the others a $ref or allOf is refused as where the parameters are the
    // whole schema).
    private static JsonProperty? Wrapper(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        JsonProperty? wrapper = null;
        foreach (JsonProperty p in schema.EnumerateObject())
        {
            if (p.NameEquals("type") || p.NameEquals("anyOf") || p.NameEquals("oneOf") || p.NameEquals("enum") || p.NameEquals("const"))
            {
                return null;
            }
            if (p.NameEquals("$ref") || p.NameEquals("allOf"))
            {
                if (wrapper is not null)
                {
                    // Both: wrapping one would have it refused beside an anyOf the caller never wrote.
                    return null;
                }
                wrapper = p;
            }
        }
        return wrapper;
    }

    // Where WriteEmbedded puts a wrapped $ref or allOf, within the function's arguments.
    private const string WrapperBranch = "/anyOf/0";

    private static bool TypeName(JsonElement type) =>
        type.ValueKind == JsonValueKind.String && s_typeNames.Any(name => type.ValueEquals(name));

    private static readonly string[] s_typeNames = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private static void Write(Utf8JsonWriter writer, JsonElement value, string at)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (JsonProperty p in value.EnumerateObject())
                {
                    WriteMember(writer, p, at);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (JsonElement item in value.EnumerateArray())
                {
                    Write(writer, item, at);
                }
                writer.WriteEndArray();
                break;
            default:
                // As written: a string's escapes are not decoded (a lone surrogate in a description is no error here,
                // as it is none where the parameters are the whole schema).
                writer.WriteRawValue(value.GetRawText(), skipInputValidation: true);
                break;
        }
    }

    // A string's value; null for another kind, or one no UTF-16 string holds (a lone surrogate, refused where it is read).
    private static string? Text(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            return null;
        }
        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static void WriteMember(Utf8JsonWriter writer, JsonProperty p, string at)
    {
        if (p.NameEquals("$ref") && Text(p.Value) is string reference && (reference == "#" || reference.StartsWith("#/", StringComparison.Ordinal)))
        {
            writer.WriteString("$ref", at + reference[1..]);
            return;
        }
        writer.WritePropertyName(p.Name);
        Write(writer, p.Value, at);
    }

    /// <summary>
    /// What the engine said of a forced call's schema, as the caller gave it: without the "response_format " lead (the
    /// caller gave no response format, only the tools whose parameters the schema is), and, of a union of several
    /// functions, naming the function and the place within its parameters.
    /// </summary>
    /// <param name="message">The engine's refusal.</param>
    /// <param name="names">The functions offered, in order (those of <see cref="Schema"/>'s union).</param>
    /// <param name="callee">The function whose parameters the schema is; null for the union.</param>
    public static string SchemaProblem(string message, IReadOnlyList<string> names, string? callee) =>
        SchemaProblem(message, names, callee, wrapped: _ => false);

    /// <summary>
    /// <see cref="SchemaProblem(string, IReadOnlyList{string}, string)"/>, knowing the parameters: a refusal within
    /// parameters whose top $ref or allOf the union moved into a branch of its own is placed where the caller wrote it.
    /// </summary>
    /// <param name="message">The engine's refusal.</param>
    /// <param name="parameters">The functions offered and their parameters, in order (those of <see cref="Schema"/>).</param>
    /// <param name="callee">The function whose parameters the schema is; null for the union.</param>
    public static string SchemaProblem(string message, IReadOnlyList<KeyValuePair<string, JsonElement?>> parameters, string? callee)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return SchemaProblem(message, [.. parameters.Select(p => p.Key)], callee, i => parameters[i].Value is JsonElement p && Wrapper(p) is not null);
    }

    private static string SchemaProblem(string message, IReadOnlyList<string> names, string? callee, Func<int, bool> wrapped)
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
            if (wrapped(function) && rest.StartsWith(WrapperBranch, StringComparison.Ordinal))
            {
                rest = rest[WrapperBranch.Length..];
            }
            string moved = "\"" + BranchPointer(function);
            rest = rest.Replace(moved, "\"#", StringComparison.Ordinal);
            return $"the parameters of '{names[function]}' cannot be held to: {message[..found]} at #{rest}";
        }
        return $"the call cannot be held to: {message}";
    }

    /// <summary>The function a forced reply calls when its schema is the function's own (named, or the only one); null when the reply names it.</summary>
    public static string? Callee(IReadOnlyList<string> names, string? name) => name ?? (names.Count == 1 ? names[0] : null);
}
