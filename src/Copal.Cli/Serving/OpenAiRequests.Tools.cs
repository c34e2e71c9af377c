using System.Text.Json;
using Copal.Model.Chat.ToolCalls;

namespace Copal.Cli.Serving;

/// <summary>The way the server reads tool calls: the format, or none with the reason (told to a request that offers tools).</summary>
internal sealed record ToolCallReading(ToolCallFormat Format, string Reason)
{
    /// <summary>No tools: what a server without a chat template, or one started with --tool-call-parser none, answers.</summary>
    public static ToolCallReading Off { get; } = new(ToolCallFormat.None, "the server reads no tool calls");
}

// Chat's tools, tool_choice, parallel_tool_calls, and the tool fields of messages, as OpenAI's API gives them.
internal static partial class OpenAiRequests
{
    /// <summary>The most functions tools may hold: OpenAI's bound (<see cref="OfferedTools.MaxTools"/>).</summary>
    public const int MaxTools = OfferedTools.MaxTools;

    /// <summary>
    /// The tools the request offers, or null when it offers none or tool_choice is "none" (then the model is not shown
    /// them, as vLLM does, and nothing of its reply is read as a call). A request that offers tools to a server that
    /// cannot read calls, or forces a call (tool_choice "required" or a function), is refused. Only a model with a chat
    /// template (<paramref name="templated"/>) can be shown tools, so only its refusal points at --tool-call-parser.
    /// </summary>
    private static OfferedTools? Tools(JsonElement body, ToolCallReading reading, bool templated)
    {
        // OpenAI's older function calling, which its API deprecated for tools: refused, never ignored.
        if (Array(body, "functions") is { } functions && functions.GetArrayLength() > 0)
        {
            throw Unsupported("functions", "functions (OpenAI's deprecated function calling) is not supported; give tools instead");
        }
        if (Field(body, "function_call") is JsonElement f && !(f.ValueKind == JsonValueKind.String && f.GetString() is "none" or "auto"))
        {
            throw f.ValueKind is JsonValueKind.String or JsonValueKind.Object
                ? Unsupported("function_call", $"function_call {Actual(f)} (OpenAI's deprecated function calling) is not supported; give tool_choice instead")
                : OpenAiException.BadRequest("function_call", $"function_call must be a string or an object, got {Actual(f)}");
        }
        bool parallel = Boolean(body, "parallel_tool_calls") ?? true;
        (string choice, string? forcedName) = ToolChoice(body);
        if (Array(body, "tools") is not { } tools || tools.GetArrayLength() == 0)
        {
            if (choice is not ("none" or "auto"))
            {
                throw OpenAiException.BadRequest("tool_choice", $"tool_choice {choice} forces a call, and the request offers no tools");
            }
            return null;
        }
        if (tools.GetArrayLength() > MaxTools)
        {
            throw OpenAiException.BadRequest("tools", $"tools holds at most {MaxTools} functions (OpenAI's bound), got {tools.GetArrayLength()}");
        }
        var names = new List<string>();
        var definitions = new List<object>();
        var parameters = new List<KeyValuePair<string, JsonElement?>>();
        int index = 0;
        foreach (JsonElement tool in tools.EnumerateArray())
        {
            string at = $"tools[{index++}]";
            string name = FunctionOf(tool, at, names);
            names.Add(name);
            definitions.Add(tool.Clone());
            parameters.Add(new(name, Field(tool.GetProperty("function"), "parameters")?.Clone()));
        }
        if (choice == "none")
        {
            return null;
        }
        bool forced = choice != "auto";
        if (forcedName is not null && !names.Contains(forcedName))
        {
            throw OpenAiException.BadRequest("tool_choice", $"tool_choice names the function '{forcedName}', which tools does not offer (it offers {string.Join(", ", names)})");
        }
        // A forced call is made by a schema, whatever the format; reading calls the model chose needs the format.
        if (!forced && reading.Format == ToolCallFormat.None)
        {
            string hint = templated ? "; start copal serve with --tool-call-parser to name the format the model writes calls in" : "";
            throw Unsupported("tools", $"tools cannot be offered to this model: {reading.Reason}{hint}");
        }
        return new OfferedTools(definitions, names, reading.Format, parallel) { Forced = forced, ForcedName = forcedName, Parameters = parameters };
    }

    // tool_choice as a word ("none", "auto", "required", or "function 'NAME'"), with the named function's name.
    private static (string Choice, string? Name) ToolChoice(JsonElement body)
    {
        if (Field(body, "tool_choice") is not JsonElement c)
        {
            return ("auto", null);
        }
        if (c.ValueKind == JsonValueKind.String && c.GetString() is "none" or "auto" or "required")
        {
            return (c.GetString()!, null);
        }
        if (c.ValueKind == JsonValueKind.Object && Field(c, "type") is { ValueKind: JsonValueKind.String } type && type.GetString() == "function"
            && Field(c, "function") is { ValueKind: JsonValueKind.Object } function && Field(function, "name") is { ValueKind: JsonValueKind.String } name)
        {
            return ($"function '{name.GetString()}'", name.GetString());
        }
        throw OpenAiException.BadRequest("tool_choice", $"tool_choice must be \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, got {Actual(c)}");
    }

    // A tool of the list: {"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}; its name.
    private static string FunctionOf(JsonElement tool, string at, List<string> earlier)
    {
        if (tool.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest(at, $"{at} must be an object, got {Actual(tool)}");
        }
        if (Field(tool, "type") is not { ValueKind: JsonValueKind.String } type)
        {
            throw OpenAiException.BadRequest($"{at}.type", $"{at}.type must be \"function\"");
        }
        if (type.GetString() != "function")
        {
            throw Unsupported($"{at}.type", $"{at}.type {Actual(type)} is not supported; only \"function\" tools");
        }
        if (Field(tool, "function") is not { ValueKind: JsonValueKind.Object } function)
        {
            throw OpenAiException.BadRequest($"{at}.function", $"{at}.function must be an object with a name");
        }
        string name = Field(function, "name") is { ValueKind: JsonValueKind.String } n ? n.GetString()!
            : throw OpenAiException.BadRequest($"{at}.function.name", $"{at}.function.name must be a string");
        if (!FunctionNames.IsValid(name))
        {
            throw OpenAiException.BadRequest($"{at}.function.name", $"{at}.function.name must be {FunctionNames.Rule}, got {Actual(n)}");
        }
        if (earlier.Contains(name))
        {
            throw OpenAiException.BadRequest($"{at}.function.name", $"{at}.function.name '{name}' names a function offered before; give each once");
        }
        if (Field(function, "description") is JsonElement d && d.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest($"{at}.function.description", $"{at}.function.description must be a string, got {Actual(d)}");
        }
        if (Field(function, "parameters") is JsonElement p && p.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest($"{at}.function.parameters", $"{at}.function.parameters must be a JSON schema object, got {Actual(p)}");
        }
        _ = Boolean(function, "strict", $"{at}.function.strict");
        return name;
    }

    /// <summary>
    /// An assistant message's tool_calls as its template reads them: each <c>{"id", "type": "function", "function":
    /// {"name", "arguments"}}</c> with the arguments, which OpenAI sends as a JSON string, as an object (Hugging Face's
    /// templates write <c>arguments | tojson</c>, as vLLM passes them); null when the message has none.
    /// </summary>
    private static List<object?>? ToolCallsOf(JsonElement message, string at)
    {
        if (Field(message, "tool_calls") is not JsonElement calls || (calls.ValueKind == JsonValueKind.Array && calls.GetArrayLength() == 0))
        {
            return null;
        }
        if (calls.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.BadRequest($"{at}.tool_calls", $"{at}.tool_calls must be an array, got {Actual(calls)}");
        }
        var list = new List<object?>();
        int index = 0;
        foreach (JsonElement call in calls.EnumerateArray())
        {
            string callAt = $"{at}.tool_calls[{index++}]";
            if (call.ValueKind != JsonValueKind.Object || Field(call, "function") is not { ValueKind: JsonValueKind.Object } function)
            {
                throw OpenAiException.BadRequest(callAt, $"{callAt} must be an object with a function, e.g. {{\"id\": ..., \"type\": \"function\", \"function\": {{\"name\": ..., \"arguments\": \"{{}}\"}}}}");
            }
            string name = Field(function, "name") is { ValueKind: JsonValueKind.String } n ? n.GetString()!
                : throw OpenAiException.BadRequest($"{callAt}.function.name", $"{callAt}.function.name must be a string");
            var entry = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (Field(call, "id") is JsonElement id)
            {
                entry["id"] = id.ValueKind == JsonValueKind.String ? id.GetString()
                    : throw OpenAiException.BadRequest($"{callAt}.id", $"{callAt}.id must be a string, got {Actual(id)}");
            }
            entry["type"] = "function";
            entry["function"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["name"] = name,
                ["arguments"] = ArgumentsObject(function, $"{callAt}.function.arguments"),
            };
            list.Add(entry);
        }
        return list;
    }

    // A call's arguments: a string of a JSON object (OpenAI's form) or an object; absent is no arguments.
    private static JsonElement ArgumentsObject(JsonElement function, string at)
    {
        if (Field(function, "arguments") is not JsonElement arguments)
        {
            return JsonDocument.Parse("{}").RootElement.Clone();
        }
        if (arguments.ValueKind == JsonValueKind.Object)
        {
            return arguments.Clone();
        }
        if (arguments.ValueKind == JsonValueKind.String && arguments.GetString()!.Trim().Length == 0)
        {
            // What some clients send for a call without arguments.
            return JsonDocument.Parse("{}").RootElement.Clone();
        }
        if (arguments.ValueKind == JsonValueKind.String)
        {
            try
            {
                using JsonDocument parsed = JsonDocument.Parse(arguments.GetString()!);
                if (parsed.RootElement.ValueKind == JsonValueKind.Object)
                {
                    // Its strings are read only by the template: an escaped half of a surrogate pair ("\ud83d") in
                    // them failed there as an internal error, the request's own text having been checked before.
                    RequireReadableText(parsed.RootElement, at);
                    return parsed.RootElement.Clone();
                }
            }
            catch (JsonException)
            {
                // Told below.
            }
            throw OpenAiException.BadRequest(at, $"{at} must be a string holding a JSON object, got {Actual(arguments)}");
        }
        throw OpenAiException.BadRequest(at, $"{at} must be a string holding a JSON object, got {Actual(arguments)}");
    }
}
