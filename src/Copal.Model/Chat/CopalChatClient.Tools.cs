using System.Text.Json;
using Copal.Model.Chat.ToolCalls;
using Microsoft.Extensions.AI;

namespace Copal.Model.Chat;

// Tool calling: ChatOptions.Tools shown to the model by its template, FunctionCallContent and FunctionResultContent
// in the conversation as OpenAI's tool_calls and tool messages, and the calls of a reply read back as FunctionCallContent.
public sealed partial class CopalChatClient
{
    /// <summary>
    /// ChatOptions.Tools as OpenAI's tool list, or null when none are offered or ToolMode is None (then the model is
    /// not shown them, as copal serve does). Only function declarations can be shown. A required call (RequireAny,
    /// RequireSpecific) is made by a schema (<see cref="ForcedToolCalls"/>), whatever the model's format. Internal for
    /// the tests, which read a made-up reply with it (stories260K writes no calls).
    /// </summary>
    internal OfferedTools? Tools(ChatOptions? options)
    {
        // Counted first, whatever ToolMode says, as the server counts tools before it reads tool_choice or any function.
        if (options?.Tools is { Count: > OfferedTools.MaxTools } many)
        {
            throw new ArgumentException($"ChatOptions.Tools holds at most {OfferedTools.MaxTools} functions (OpenAI's bound), got {many.Count}", nameof(options));
        }
        var required = options?.ToolMode as RequiredChatToolMode;
        if (options?.Tools is not { Count: > 0 } tools || options.ToolMode is NoneChatToolMode)
        {
            return required is null ? null
                : throw new ArgumentException($"ChatOptions.ToolMode {Describe(required)} forces a call, and ChatOptions.Tools offers no function", nameof(options));
        }
        if (required is null && _toolFormat == ToolCallFormat.None)
        {
            throw new NotSupportedException($"ChatOptions.Tools cannot be offered to this model: {_toolFormatReason}; give the client a ToolCallFormat");
        }
        var definitions = new List<object>();
        var names = new List<string>();
        var parameters = new List<KeyValuePair<string, JsonElement?>>();
        for (int i = 0; i < tools.Count; i++)
        {
            if (tools[i] is not AIFunctionDeclaration function)
            {
                throw new NotSupportedException($"ChatOptions.Tools[{i}]: {tools[i].GetType().Name} is not supported; copal shows the model functions only (AIFunctionDeclaration)");
            }
            if (!FunctionNames.IsValid(function.Name))
            {
                throw new ArgumentException($"ChatOptions.Tools[{i}]: the function's name must be {FunctionNames.Rule} (OpenAI's rule, which copal serve holds requests to), got '{function.Name}'", nameof(options));
            }
            if (names.Contains(function.Name))
            {
                throw new ArgumentException($"ChatOptions.Tools[{i}]: the function '{function.Name}' is offered twice", nameof(options));
            }
            names.Add(function.Name);
            var declaration = new Dictionary<string, object?>(StringComparer.Ordinal) { ["name"] = function.Name };
            if (!string.IsNullOrEmpty(function.Description))
            {
                declaration["description"] = function.Description;
            }
            declaration["parameters"] = function.JsonSchema;
            definitions.Add(new Dictionary<string, object?>(StringComparer.Ordinal) { ["type"] = "function", ["function"] = declaration });
            parameters.Add(new(function.Name, function.JsonSchema));
        }
        if (required?.RequiredFunctionName is string callee && !names.Contains(callee))
        {
            throw new ArgumentException($"ChatOptions.ToolMode {Describe(required)} names a function ChatOptions.Tools does not offer (it offers {string.Join(", ", names)})", nameof(options));
        }
        return new OfferedTools(definitions, names, _toolFormat, options.AllowMultipleToolCalls ?? true)
        {
            Forced = required is not null,
            ForcedName = required?.RequiredFunctionName,
            Parameters = parameters,
        };
    }

    private static string Describe(RequiredChatToolMode required) =>
        required.RequiredFunctionName is string name ? $"RequireSpecific('{name}')" : "RequireAny";

    /// <summary>
    /// An assistant message's calls as OpenAI's tool_calls (arguments as an object, as Hugging Face's templates take
    /// them), or a tool message's results as tool messages, one per result; each with the message's
    /// <paramref name="fields"/> (reasoning_content, name).
    /// </summary>
    private static IEnumerable<ChatTurn> ToolTurns(ChatMessage message, string role, Dictionary<string, object?> fields)
    {
        if (role == "tool")
        {
            foreach (FunctionResultContent result in message.Contents.OfType<FunctionResultContent>())
            {
                string content = result.Result switch
                {
                    null => "",
                    string plain => plain,
                    JsonElement json => json.ValueKind == JsonValueKind.String ? json.GetString()! : json.GetRawText(),
                    object value => JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions),
                };
                yield return new ChatTurn("tool", content, new Dictionary<string, object?>(fields, StringComparer.Ordinal) { ["tool_call_id"] = result.CallId });
            }
            yield break;
        }
        var calls = message.Contents.OfType<FunctionCallContent>().Select(call => (object?)new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = call.CallId,
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["name"] = call.Name,
                ["arguments"] = JsonSerializer.SerializeToElement(call.Arguments ?? new Dictionary<string, object?>(), PythonFloatJson.Options),
            },
        }).ToList();
        string? text = message.Contents.OfType<TextContent>().Any() ? message.Text : null;
        yield return new ChatTurn(role, text, new Dictionary<string, object?>(fields, StringComparer.Ordinal) { ["tool_calls"] = calls });
    }

    /// <summary>
    /// <paramref name="contents"/> with their text passed through <paramref name="splitter"/>: what is surely not a call
    /// stays text; at the reply's end (<paramref name="final"/>) the held rest follows, and the calls as
    /// <see cref="FunctionCallContent"/> (the first only unless several are allowed). Whether a call was made is returned.
    /// </summary>
    internal static bool ReadCalls(List<AIContent> contents, ToolCallSplitter splitter, bool final, bool parallel)
    {
        for (int i = 0; i < contents.Count; i++)
        {
            if (contents[i] is TextContent text)
            {
                string kept = splitter.Push(text.Text);
                if (kept.Length == 0)
                {
                    contents.RemoveAt(i--);
                }
                else
                {
                    contents[i] = new TextContent(kept);
                }
            }
        }
        if (!final)
        {
            return false;
        }
        (string rest, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        if (rest.Length > 0)
        {
            contents.Add(new TextContent(rest));
        }
        foreach (ToolCall call in parallel ? calls : calls.Take(1))
        {
            using JsonDocument arguments = JsonDocument.Parse(call.Arguments);
            // A key the model wrote twice keeps its last value, as a deserializer reads it (ToDictionary would throw).
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (JsonProperty p in arguments.RootElement.EnumerateObject())
            {
                values[p.Name] = p.Value.Clone();
            }
            contents.Add(new FunctionCallContent(ToolCallIds.New(), call.Name, values));
        }
        return calls.Count > 0;
    }
}
