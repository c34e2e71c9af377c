using System.Text.Json;
using Copal.Model.Chat;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>An error the API returns in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with an HTTP status.</summary>
internal sealed class OpenAiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;

    public static OpenAiException BadRequest(string param, string message, string? code = null) => new(400, message, param, code);
}

/// <summary>What a /v1/completions or /v1/chat/completions body asks for, checked field by field.</summary>
internal sealed record OpenAiRequest(CompletionRequest Completion, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads OpenAI request bodies. Each field is checked for its JSON type and range, and an error names the field.
/// Fields that would change the result but are not implemented (n &gt; 1, logprobs, echo, penalties, tools) are refused,
/// never ignored; fields without effect here (user, metadata, …) are accepted.
/// </summary>
internal static class OpenAiRequests
{
    /// <summary>The default of /v1/completions' max_tokens, as OpenAI's.</summary>
    public const int CompletionDefaultMaxTokens = 16;

    public static JsonElement ParseBody(byte[] body)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest("", $"the request body must be a JSON object, got {Kind(doc.RootElement)}");
            }
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw OpenAiException.BadRequest("", $"the request body is not valid JSON: {e.Message}", "invalid_json");
        }
    }

    public static OpenAiRequest Completion(JsonElement body, InferenceEngine engine)
    {
        CheckModel(body, engine);
        CompletionRequest request = Sampling(body, CompletionDefaultMaxTokens, "max_tokens");
        if (Get(body, "echo") is JsonElement echo && echo.ValueKind == JsonValueKind.True)
        {
            throw Unsupported("echo", "echo is not supported; give echo false or leave it out");
        }
        if (Get(body, "suffix") is JsonElement suffix && suffix.ValueKind != JsonValueKind.Null)
        {
            throw Unsupported("suffix", "suffix is not supported; leave it out");
        }
        JsonElement prompt = Get(body, "prompt") ?? throw OpenAiException.BadRequest("prompt", "prompt is required");
        request = prompt.ValueKind switch
        {
            JsonValueKind.String => request with { Prompt = prompt.GetString() },
            JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String => request with { Prompt = prompt[0].GetString() },
            JsonValueKind.Array when prompt.GetArrayLength() > 0 && prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number) =>
                request with { PromptIds = [.. prompt.EnumerateArray().Select(e => e.TryGetInt32(out int id) ? id : throw OpenAiException.BadRequest("prompt", $"token id {e.GetRawText()} is not an integer"))] },
            JsonValueKind.Array when prompt.GetArrayLength() > 1 => throw Unsupported("prompt", $"one prompt per request; got an array of {prompt.GetArrayLength()} prompts"),
            _ => throw OpenAiException.BadRequest("prompt", $"prompt must be a string, an array of one string or an array of token ids, got {Kind(prompt)}"),
        };
        return Finish(body, request);
    }

    public static OpenAiRequest Chat(JsonElement body, InferenceEngine engine, IChatFormatter formatter)
    {
        CheckModel(body, engine);
        // max_completion_tokens is the current name (what the OpenAI .NET client sends); max_tokens the older one.
        string maxName = Get(body, "max_completion_tokens") is JsonElement m && m.ValueKind != JsonValueKind.Null ? "max_completion_tokens" : "max_tokens";
        CompletionRequest request = Sampling(body, null, maxName);
        if (Get(body, "tools") is JsonElement tools && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
        {
            throw Unsupported("tools", "tools are not supported; leave tools out");
        }
        if (Get(body, "response_format") is JsonElement format && format.ValueKind == JsonValueKind.Object
            && format.TryGetProperty("type", out JsonElement type) && type.GetString() != "text")
        {
            throw Unsupported("response_format", $"response_format {type.GetRawText()} is not supported; only text");
        }
        JsonElement messages = Get(body, "messages") ?? throw OpenAiException.BadRequest("messages", "messages is required");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("messages", $"messages must be a non-empty array, got {Kind(messages)}");
        }
        var turns = new List<ChatTurn>();
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string at = $"messages[{index++}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest(at, $"{at} must be an object, got {Kind(message)}");
            }
            string role = message.TryGetProperty("role", out JsonElement r) && r.ValueKind == JsonValueKind.String ? r.GetString()!
                : throw OpenAiException.BadRequest($"{at}.role", $"{at}.role must be a string");
            if (role is not ("system" or "developer" or "user" or "assistant"))
            {
                throw OpenAiException.BadRequest($"{at}.role", $"{at}.role must be system, developer, user or assistant, got '{role}'");
            }
            turns.Add(new ChatTurn(role == "developer" ? "system" : role, Content(message, at)));
        }
        ChatPrompt prompt = formatter.Format(turns);
        request = request with
        {
            Prompt = prompt.Text,
            AddSpecialTokens = prompt.AddSpecialTokens,
            Stop = [.. prompt.StopTexts, .. request.Stop],
            // No max: the rest of the context, as OpenAI's chat endpoint.
            MaxTokens = request.MaxTokens < 0 ? engine.ContextSize : request.MaxTokens,
        };
        return Finish(body, request);
    }

    private static string Content(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out JsonElement content) || content.ValueKind == JsonValueKind.Null)
        {
            return "";
        }
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.BadRequest($"{at}.content", $"{at}.content must be a string or an array of text parts, got {Kind(content)}");
        }
        var text = new System.Text.StringBuilder();
        foreach (JsonElement part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out JsonElement type) || type.GetString() != "text"
                || !part.TryGetProperty("text", out JsonElement t) || t.ValueKind != JsonValueKind.String)
            {
                throw Unsupported($"{at}.content", $"{at}.content: only text parts ({{\"type\": \"text\", \"text\": ...}}) are supported");
            }
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    private static void CheckModel(JsonElement body, InferenceEngine engine)
    {
        JsonElement model = Get(body, "model") ?? throw OpenAiException.BadRequest("model", $"model is required; this server serves '{engine.ModelId}'");
        if (model.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("model", $"model must be a string, got {Kind(model)}");
        }
        if (model.GetString() != engine.ModelId)
        {
            throw new OpenAiException(404, $"the model '{model.GetString()}' does not exist; this server serves '{engine.ModelId}'", "model", "model_not_found");
        }
    }

    /// <summary>The sampling fields; MaxTokens is -1 when absent and <paramref name="defaultMax"/> is null.</summary>
    private static CompletionRequest Sampling(JsonElement body, int? defaultMax, string maxName)
    {
        if (Get(body, "n") is JsonElement n && n.ValueKind != JsonValueKind.Null && !(n.TryGetInt32(out int count) && count == 1))
        {
            throw Unsupported("n", $"n must be 1 (one choice per request), got {n.GetRawText()}");
        }
        if (Get(body, "logprobs") is JsonElement lp && lp.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
        {
            throw Unsupported("logprobs", "logprobs are not supported; leave logprobs out");
        }
        foreach (string penalty in new[] { "presence_penalty", "frequency_penalty" })
        {
            if (Number(body, penalty, -2, 2) is double p && p != 0)
            {
                throw Unsupported(penalty, $"{penalty} is not supported; give 0 or leave it out, got {p}");
            }
        }
        double temperature = Number(body, "temperature", 0, 2) ?? 1.0;
        double topP = Number(body, "top_p", 0, 1) ?? 1.0;
        if (topP == 0)
        {
            throw OpenAiException.BadRequest("top_p", "top_p must be in (0, 1], got 0");
        }
        int maxTokens = defaultMax ?? -1;
        if (Get(body, maxName) is JsonElement max && max.ValueKind != JsonValueKind.Null)
        {
            maxTokens = max.TryGetInt32(out int v) && v >= 0 ? v
                : throw OpenAiException.BadRequest(maxName, $"{maxName} must be an integer ≥ 0, got {max.GetRawText()}");
        }
        ulong seed = 0;
        if (Get(body, "seed") is JsonElement s && s.ValueKind != JsonValueKind.Null)
        {
            seed = s.TryGetInt64(out long v) && v >= 0 ? (ulong)v
                : throw OpenAiException.BadRequest("seed", $"seed must be an integer ≥ 0, got {s.GetRawText()}");
        }
        return new CompletionRequest
        {
            MaxTokens = maxTokens,
            Temperature = (float)temperature,
            TopP = (float)topP,
            Seed = seed,
            Stop = Stops(body),
        };
    }

    private static string[] Stops(JsonElement body)
    {
        if (Get(body, "stop") is not JsonElement stop || stop.ValueKind == JsonValueKind.Null)
        {
            return [];
        }
        string[] stops = stop.ValueKind switch
        {
            JsonValueKind.String => [stop.GetString()!],
            JsonValueKind.Array when stop.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. stop.EnumerateArray().Select(e => e.GetString()!)],
            _ => throw OpenAiException.BadRequest("stop", $"stop must be a string or an array of strings, got {Kind(stop)}"),
        };
        if (stops.Length > 4)
        {
            throw OpenAiException.BadRequest("stop", $"stop holds at most 4 texts, got {stops.Length}");
        }
        if (stops.Any(string.IsNullOrEmpty))
        {
            throw OpenAiException.BadRequest("stop", "a stop text must not be empty");
        }
        return stops;
    }

    private static OpenAiRequest Finish(JsonElement body, CompletionRequest request)
    {
        bool stream = false;
        if (Get(body, "stream") is JsonElement s && s.ValueKind != JsonValueKind.Null)
        {
            stream = s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean()
                : throw OpenAiException.BadRequest("stream", $"stream must be true or false, got {s.GetRawText()}");
        }
        bool includeUsage = Get(body, "stream_options") is JsonElement o && o.ValueKind == JsonValueKind.Object
            && o.TryGetProperty("include_usage", out JsonElement u) && u.ValueKind == JsonValueKind.True;
        return new OpenAiRequest(request, stream, includeUsage);
    }

    private static double? Number(JsonElement body, string name, double min, double max)
    {
        if (Get(body, name) is not JsonElement e || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && v >= min && v <= max ? v
            : throw OpenAiException.BadRequest(name, $"{name} must be a number in [{min}, {max}], got {e.GetRawText()}");
    }

    private static JsonElement? Get(JsonElement body, string name) => body.TryGetProperty(name, out JsonElement e) ? e : null;

    private static OpenAiException Unsupported(string param, string message) => OpenAiException.BadRequest(param, message, "unsupported_parameter");

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => "null",
    };
}
