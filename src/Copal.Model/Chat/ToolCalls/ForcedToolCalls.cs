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
    /// call's arguments. Any of several: <c>{"name": one of theirs, "arguments": an object}</c>, the arguments held to
    /// no function's schema (a first byte cannot tell object branches apart, so no one schema holds them all).
    /// </summary>
    /// <param name="parameters">Each offered function's parameters schema by its name, in order (null: it takes none).</param>
    /// <param name="name">The function to call, or null for any of them.</param>
    public static JsonElement Schema(IReadOnlyList<KeyValuePair<string, JsonElement?>> parameters, string? name)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        string? only = name ?? (parameters.Count == 1 ? parameters[0].Key : null);
        if (only is not null)
        {
            JsonElement? schema = parameters.Single(p => p.Key == only).Value;
            return schema ?? JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "object", ["properties"] = new JsonObject(), ["additionalProperties"] = false });
        }
        var names = new JsonArray();
        foreach (KeyValuePair<string, JsonElement?> p in parameters)
        {
            names.Add(p.Key);
        }
        return JsonSerializer.SerializeToElement(new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["name"] = new JsonObject { ["enum"] = names },
                ["arguments"] = new JsonObject { ["type"] = "object" },
            },
            ["required"] = new JsonArray("name", "arguments"),
            ["additionalProperties"] = false,
        });
    }

    /// <summary>
    /// What the engine said of a forced call's schema, without its "response_format " lead: the caller gave no response
    /// format, only the tools whose parameters the schema is.
    /// </summary>
    public static string SchemaProblem(string message) =>
        message.StartsWith("response_format ", StringComparison.Ordinal) ? message["response_format ".Length..] : message;

    /// <summary>The function a forced reply calls when its schema is the function's own (named, or the only one); null when the reply names it.</summary>
    public static string? Callee(IReadOnlyList<string> names, string? name) => name ?? (names.Count == 1 ? names[0] : null);
}
