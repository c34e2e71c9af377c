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
            // Without a template a ToolCallFormat alone does not do: the plain formatter refuses tools, as nothing shows them.
            string remedy = _formatter is TemplateChatFormatter ? "give the client a ToolCallFormat"
                : "give the client a formatter that shows the model tools (a TemplateChatFormatter of a chat template that does) and the ToolCallFormat its replies use";
            throw new NotSupportedException($"ChatOptions.Tools cannot be offered to this model: {_toolFormatReason}; {remedy}");
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
    /// <paramref name="fields"/> (reasoning_content, name); <paramref name="at"/> names the message.
    /// </summary>
    private static IEnumerable<ChatTurn> ToolTurns(ChatMessage message, string at, string role, Dictionary<string, object?> fields)
    {
        if (role == "tool")
        {
            foreach (FunctionResultContent result in message.Contents.OfType<FunctionResultContent>())
            {
                yield return new ChatTurn("tool", ResultText(result, at), new Dictionary<string, object?>(fields, StringComparer.Ordinal) { ["tool_call_id"] = result.CallId });
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
                ["arguments"] = ArgumentsElement(call),
            },
        }).ToList();
        string? text = message.Contents.OfType<TextContent>().Any() ? message.Text : null;
        yield return new ChatTurn(role, text, new Dictionary<string, object?>(fields, StringComparer.Ordinal) { ["tool_calls"] = calls });
    }

    // A call's .NET arguments as JSON, floats as Python writes them (PythonFloatJson).
    private static JsonElement ArgumentsElement(FunctionCallContent call)
    {
        try
        {
            return JsonSerializer.SerializeToElement(call.Arguments ?? new Dictionary<string, object?>(), PythonFloatJson.Options);
        }
        catch (PythonFloatJson.NonFiniteException e)
        {
            throw new ArgumentException(FormattableString.Invariant($"a function call's arguments hold {e.Value}, which JSON cannot hold (its numbers are finite)"), e);
        }
    }

    /// <summary>
    /// A call's result as the tool message's text, as a Python user of transformers (or of an OpenAI client in front of
    /// vLLM or copal serve) gives a function's result: a string (or a JSON string) as it is, nothing for none (a function
    /// that returns nothing, as Microsoft.Extensions.AI's OpenAI client sends it), any other value as
    /// <c>json.dumps(result, ensure_ascii=False)</c> writes it: a whole float with its ".0" (<see cref="PythonFloatJson"/>),
    /// ", " between items and ": " after keys (<see cref="PythonJson"/>), characters past ASCII as they are. A JSON
    /// element, the form an AIFunction's result takes, is written the same way, its numbers as it holds them.
    /// System.Text.Json with Microsoft.Extensions.AI's options wrote 1.0 as 1 and objects indented over several lines.
    /// </summary>
    private static string ResultText(FunctionResultContent result, string at)
    {
        switch (result.Result)
        {
            case null:
                return "";
            case string text:
                return text;
            case JsonElement { ValueKind: JsonValueKind.String } json:
                return json.GetString()!;
            case JsonElement json:
                return PythonJson.Element(json);
        }
        try
        {
            // JSON nodes among them: PythonFloatJson walks them, since a JsonValue made from a double writes 18.0 as 18 whatever the options.
            return PythonJson.Element(JsonSerializer.SerializeToElement(result.Result, PythonFloatJson.Options));
        }
        catch (PythonFloatJson.NonFiniteException e)
        {
            throw new ArgumentException(FormattableString.Invariant($"{at}: the result of call '{result.CallId}' holds {e.Value}, which JSON cannot hold (its numbers are finite; Microsoft.Extensions.AI's OpenAI client refuses it too): give the text to send, such as Python's NaN, as a string result"), "messages");
        }
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
