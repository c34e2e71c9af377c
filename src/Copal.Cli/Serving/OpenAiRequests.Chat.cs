using System.Text.Json;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// /v1/chat/completions' own fields: the messages, rendered into the prompt by the chat formatter (with
/// chat_template_kwargs), chat's logprobs and top_logprobs, the tools (OpenAiRequests.Tools.cs), and the audio fields copal refuses.
/// </summary>
internal static partial class OpenAiRequests
{
    /// <summary>
    /// Chat's logprobs (true or false) and top_logprobs (0 to 20 alternatives, which need logprobs true, as OpenAI
    /// rules): the alternatives to report, or null for no log-probabilities.
    /// </summary>
    private static int? ChatLogprobs(JsonElement body)
    {
        bool logprobs = Field(body, "logprobs") is JsonElement { ValueKind: JsonValueKind.Number } n
            ? throw OpenAiException.BadRequest("logprobs", $"logprobs must be true or false in a chat request (top_logprobs gives how many alternatives), got {n.GetRawText()}")
            : Boolean(body, "logprobs") ?? false;
        int? top = Integer(body, "top_logprobs", 0, CompletionRequest.MaxTopLogprobs);
        if (top is int t && !logprobs)
        {
            throw OpenAiException.BadRequest("top_logprobs", $"top_logprobs needs logprobs true, got top_logprobs {t} without it");
        }
        return logprobs ? top ?? 0 : null;
    }

    /// <summary>
    /// A chat request: its messages rendered by <paramref name="formatter"/>, with the tools it offers when the server
    /// reads calls in the format <paramref name="toolCalls"/> gives (none by default).
    /// </summary>
    public static OpenAiRequest Chat(JsonElement body, InferenceEngine engine, IChatFormatter formatter, ToolCallReading? toolCalls = null)
    {
        CheckModel(body, engine);
        // max_completion_tokens is the current name (what the OpenAI .NET client sends); max_tokens the older one.
        int? maxCompletion = Integer(body, "max_completion_tokens", 0);
        if (maxCompletion is int mc && Integer(body, "max_tokens", 0) is int mt && mt != mc)
        {
            throw OpenAiException.BadRequest("max_tokens", $"max_tokens {mt} and max_completion_tokens {mc} disagree; give one of the two");
        }
        CompletionRequest request = Sampling(body, null, maxCompletion is null ? "max_tokens" : "max_completion_tokens") with { TopLogprobs = ChatLogprobs(body) };
        OfferedTools? tools = Tools(body, toolCalls ?? ToolCallReading.Off, templated: formatter is TemplateChatFormatter);
        if (tools is { Forced: true })
        {
            // The call is made by structured outputs (ForcedToolCalls), which a response_format of its own would contradict.
            if (request.ResponseFormat != ResponseFormat.Text)
            {
                throw OpenAiException.BadRequest("tool_choice", "tool_choice forces a call, whose reply is held to the function's parameters; it cannot also be held to response_format: give one of the two");
            }
            request = request with { ResponseFormat = ResponseFormat.JsonSchema, JsonSchema = tools.Schema() };
        }
        if (Array(body, "modalities") is { } modalities)
        {
            foreach (JsonElement m in modalities.EnumerateArray())
            {
                if (!(m.ValueKind == JsonValueKind.String && m.GetString() == "text"))
                {
                    throw Unsupported("modalities", $"modalities {Actual(m)} is not supported; only \"text\"");
                }
            }
        }
        RefuseOtherServersChatFields(body);
        foreach (string output in new[] { "audio", "web_search_options" })
        {
            if (Field(body, output) is not null)
            {
                throw Unsupported(output, $"{output} is not supported; leave it out");
            }
        }
        JsonElement messages = Field(body, "messages") ?? throw OpenAiException.BadRequest("messages", "messages is required");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("messages", $"messages must be a non-empty array, got {Actual(messages)}");
        }
        var turns = new List<ChatTurn>();
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string at = $"messages[{index++}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest(at, $"{at} must be an object, got {Actual(message)}");
            }
            JsonElement r = Field(message, "role") ?? throw OpenAiException.BadRequest($"{at}.role", $"{at}.role is required");
            string role = r.ValueKind == JsonValueKind.String ? r.GetString()!
                : throw OpenAiException.BadRequest($"{at}.role", $"{at}.role must be a string, got {Actual(r)}");
            if (role is "function")
            {
                throw Unsupported($"{at}.role", $"{at}.role 'function' (OpenAI's deprecated function calling) is not supported; give the result in a message of the role tool");
            }
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                throw OpenAiException.BadRequest($"{at}.role", $"{at}.role must be system, developer, user, assistant or tool, got '{role}'");
            }
            turns.Add(Turn(message, role, at, templated: formatter is TemplateChatFormatter));
        }
        ChatPrompt prompt = Prompt(formatter, turns, TemplateArguments(body), tools);
        request = request with
        {
            Prompt = prompt.Text,
            // The formatter's choice (a template writes its own BOS), unless the request names one, as vLLM's chat takes it.
            AddSpecialTokens = Boolean(body, "add_special_tokens") ?? prompt.AddSpecialTokens,
            Stop = [.. prompt.StopTexts, .. request.Stop],
            // The reply is a message of its own: decoded alone, as the chat endpoints of OpenAI and vLLM return it.
            ContinuesPrompt = false,
            // No max: the rest of the context, as OpenAI's chat endpoint.
            MaxTokens = request.MaxTokens < 0 ? engine.ContextSize : request.MaxTokens,
        };
        return Finish(body, [request], Choices(body)) with { Tools = tools };
    }

    // A message as its turn: an assistant's tool_calls and reasoning_content, a tool message's tool_call_id and any
    // message's name go to the template too, which only a chat template can show the model.
    private static ChatTurn Turn(JsonElement message, string role, string at, bool templated)
    {
        if (Field(message, "function_call") is JsonElement f && f.ValueKind != JsonValueKind.Null)
        {
            throw Unsupported($"{at}.function_call", $"{at}.function_call (OpenAI's deprecated function calling) is not supported; give tool_calls instead");
        }
        List<object?>? calls = ToolCallsOf(message, at);
        if (calls is not null && role != "assistant")
        {
            throw OpenAiException.BadRequest($"{at}.tool_calls", $"{at}.tool_calls is for assistant messages, not {role}");
        }
        if (!templated && (calls is not null || role == "tool"))
        {
            throw calls is not null
                ? Unsupported($"{at}.tool_calls", $"{at}.tool_calls cannot be shown to this model: it has no chat template to write tool calls with")
                : Unsupported($"{at}.role", $"{at}.role 'tool' cannot be shown to this model: it has no chat template to write tool results with");
        }
        var extra = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (calls is not null)
        {
            extra["tool_calls"] = calls;
        }
        if (role == "tool")
        {
            extra["tool_call_id"] = Field(message, "tool_call_id") is { ValueKind: JsonValueKind.String } id ? id.GetString()
                : throw OpenAiException.BadRequest($"{at}.tool_call_id", $"{at}.tool_call_id is required for a tool message: the id of the call it answers");
        }
        // An assistant's thought sent back, as vLLM passes it: Qwen3's template writes it for the steps after the last
        // user message (a turn of tool calls) and leaves earlier turns' out; reasoning is vLLM's newer name for it. Both
        // are checked whatever the role, and whichever is used: a wrong type is the client's mistake to hear of.
        string? reasoningContent = OptionalString(message, "reasoning_content", at), reasoning = OptionalString(message, "reasoning", at);
        string? thought = role == "assistant" ? reasoningContent ?? reasoning : null;
        if (templated && thought is not null)
        {
            extra["reasoning_content"] = thought;
        }
        // The speaker's name, on every role, as Hugging Face and vLLM hand a template the whole message: a template
        // that writes it (ChatML's "user name=alice") tells the speakers of a group chat apart. The plain format has no
        // place for it and leaves it out, as a template that does not write it does.
        if (OptionalString(message, "name", at) is string name && templated)
        {
            extra["name"] = name;
        }
        // An assistant message that calls tools may leave its content out, as OpenAI's API allows.
        string? content = calls is not null && Field(message, "content") is null ? null : Content(message, role, at);
        return new ChatTurn(role == "developer" ? "system" : role, content, extra.Count == 0 ? null : extra);
    }

    /// <summary>A message's string field, null when absent or null; any other value is a 400 naming it.</summary>
    private static string? OptionalString(JsonElement message, string name, string at) => Field(message, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        JsonElement other => throw OpenAiException.BadRequest($"{at}.{name}", $"{at}.{name} must be a string, got {Actual(other)}"),
    };

    /// <summary>
    /// chat_template_kwargs (vLLM's and SGLang's field): variables for the model's chat template, such as Qwen3's
    /// enable_thinking; null when absent.
    /// </summary>
    private static Dictionary<string, object?>? TemplateArguments(JsonElement body)
    {
        if (Field(body, "chat_template_kwargs") is not JsonElement e)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("chat_template_kwargs", $"chat_template_kwargs must be an object, e.g. {{\"enable_thinking\": false}}, got {Actual(e)}");
        }
        return ChatTemplateArguments.FromJson(e);
    }

    /// <summary>The conversation as the model's prompt; arguments the formatter cannot take are a 400 naming chat_template_kwargs.</summary>
    private static ChatPrompt Prompt(IChatFormatter formatter, IReadOnlyList<ChatTurn> turns, Dictionary<string, object?>? arguments, OfferedTools? tools)
    {
        try
        {
            return formatter.Format(turns, arguments, tools?.Definitions);
        }
        catch (NotSupportedException e) when (tools is not null)
        {
            throw Unsupported("tools", $"tools cannot be offered to this model: {e.Message}");
        }
        catch (ArgumentException e) when (ChatTemplateArguments.Refused(e))
        {
            throw OpenAiException.BadRequest("chat_template_kwargs", $"chat_template_kwargs: {ChatTemplateArguments.Reason(e)}");
        }
    }

    /// <summary>
    /// A message's text. Content is required, as in OpenAI's API; an assistant message may leave it out only beside
    /// tool calls (<see cref="Turn"/>).
    /// </summary>
    private static string Content(JsonElement message, string role, string at)
    {
        if (Field(message, "content") is not JsonElement content)
        {
            throw OpenAiException.BadRequest($"{at}.content", $"{at}.content is required for {(role is "assistant" ? "an" : "a")} {role} message: a string or an array of text parts");
        }
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.BadRequest($"{at}.content", $"{at}.content must be a string or an array of text parts, got {Actual(content)}");
        }
        // Joined by a newline, as vLLM joins a message's text parts for a template that takes a string: with nothing
        // between them, ["Hello", "world"] would reach the model as one word.
        var texts = new List<string>();
        int index = 0;
        foreach (JsonElement part in content.EnumerateArray())
        {
            string partAt = $"{at}.content[{index++}]";
            if (part.ValueKind != JsonValueKind.Object || Field(part, "type") is not JsonElement type || type.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest(partAt, $"{partAt} must be an object with a string type, e.g. {{\"type\": \"text\", \"text\": \"...\"}}, got {Actual(part)}");
            }
            if (type.GetString() != "text")
            {
                throw Unsupported(partAt, $"{partAt}: {type.GetRawText()} parts are not supported; only text parts ({{\"type\": \"text\", \"text\": ...}})");
            }
            texts.Add(Field(part, "text") is JsonElement t && t.ValueKind == JsonValueKind.String ? t.GetString()!
                : throw OpenAiException.BadRequest($"{partAt}.text", $"{partAt}.text must be a string, got {(Field(part, "text") is JsonElement x ? Actual(x) : "nothing")}"));
        }
        return string.Join('\n', texts);
    }
}
