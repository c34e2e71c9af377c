using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using Copal.Model.Serving;
using Copal.Tensors.IO;

namespace Copal.Cli.Serving;

/// <summary>An error the API returns in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with an HTTP status.</summary>
internal sealed class OpenAiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;

    /// <summary>A 400 naming field <paramref name="param"/>; null for the body as a whole, as OpenAI's param is then.</summary>
    public static OpenAiException BadRequest(string? param, string message, string? code = null) => new(400, message, param, code);
}

/// <summary>What a /v1/completions or /v1/chat/completions body asks for, checked field by field.</summary>
/// <param name="Prompts">The requests to the engine, one per prompt, in the prompts' order (a chat has one).</param>
/// <param name="N">Choices per prompt (OpenAI's n), each generated on its own.</param>
/// <param name="Stream">Send the answer as server-sent events.</param>
/// <param name="IncludeUsage">With <paramref name="Stream"/>, a last chunk with the usage.</param>
/// <param name="Echo">Completions' echo: the reply's text starts with the prompt's (and its log-probabilities with the prompt's tokens').</param>
internal sealed record OpenAiRequest(IReadOnlyList<CompletionRequest> Prompts, int N, bool Stream, bool IncludeUsage, bool Echo = false)
{
    /// <summary>A chat request's tools, whose calls its replies are read for; null for none.</summary>
    public Copal.Model.Chat.ToolCalls.OfferedTools? Tools { get; init; }
}

/// <summary>
/// Reads OpenAI request bodies. Each field is checked for its JSON type and range before it is read (null counts as
/// absent), and an error names the field with what it expects and what it got.
/// Fields that would change the result but are not implemented (best_of other than n, a forced tool call) are refused, never
/// ignored; fields without effect here (user, metadata, …) are accepted. top_k, min_p and repetition_penalty are
/// taken as extensions, as vLLM's and llama.cpp's servers do.
/// </summary>
internal static partial class OpenAiRequests
{
    /// <summary>The default of /v1/completions' max_tokens, as OpenAI's.</summary>
    public const int CompletionDefaultMaxTokens = 16;

    /// <summary>How deep a request body may nest arrays and objects: System.Text.Json's default, far past any request's.</summary>
    internal const int MaxDepth = 64;

    public static JsonElement ParseBody(byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return ParseBody(body.AsMemory());
    }

    /// <summary>
    /// <see cref="ParseBody(ReadOnlyMemory{byte})"/> with the top-level field <paramref name="idsField"/> apart, where
    /// it holds token ids (<see cref="TokenIdArrays"/>): its document has an array in its place, and its checks read
    /// <paramref name="ids"/>. Null where the field stays in the document; an array of arrays of ids is taken apart
    /// only where <paramref name="nestedAllowed"/> (completions' several prompts).
    /// </summary>
    public static JsonElement ParseBody(ReadOnlyMemory<byte> body, string idsField, bool nestedAllowed, out TokenIdArrays? ids)
    {
        // One byte order mark is skipped, before the split: skipped again after it, a second one (not JSON) was taken.
        (ReadOnlyMemory<byte> rest, ids) = TokenIdArrays.Split(WithoutByteOrderMark(body), idsField, nestedAllowed);
        return Parse(rest);
    }

    // A UTF-8 byte order mark, which some clients write and JSON readers of a stream skip.
    private static ReadOnlyMemory<byte> WithoutByteOrderMark(ReadOnlyMemory<byte> body) =>
        body.Span.StartsWith("\uFEFF"u8) ? body[3..] : body;

    public static JsonElement ParseBody(ReadOnlyMemory<byte> body) => Parse(WithoutByteOrderMark(body));

    /// <summary>A body's JSON, its byte order mark (if any) already skipped: an object whose every text is readable.</summary>
    private static JsonElement Parse(ReadOnlyMemory<byte> json)
    {
        try
        {
            // Parsed in place, and never disposed: its elements are read for as long as the request runs (a schema
            // compiled from one is cached), and once the last is gone the garbage collector frees the body and the
            // rows the parse rented. A clone held a copy of both: a 30 MB body of 7.5 million prompts, 300 MB more.
            JsonElement root = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth }).RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest(null, $"the request body must be a JSON object, got {Actual(root)}");
            }
            if (!AllReadable(root))
            {
                RequireReadableText(root, "");
            }
            return root;
        }
        catch (JsonException e)
        {
            // Where, in the reader's own terms (System.Text.Json's message names its types and counts from 0).
            string at = JsonProblem.Where(e) is { Length: > 0 } where ? " " + where : "";
            // Valid JSON nested past the parser's limit: say so, rather than call it invalid. The reader tells this case
            // only in its message.
            string what = e.Message.Contains("maximum configured depth", StringComparison.Ordinal)
                ? $"nests arrays and objects deeper than {MaxDepth} levels" : "is not valid JSON";
            throw OpenAiException.BadRequest(null, $"the request body {what}{at}", "invalid_json");
        }
    }

    /// <summary>
    /// Whether every string and name in <paramref name="e"/> can be read as text, found from their bytes, with no
    /// string made: one made per item to name it (<see cref="RequireReadableText"/>) cost a 30 MB body of 7.5 million
    /// prompts 900 MB. Only a body that fails is walked again, for the name of what failed.
    /// </summary>
    private static bool AllReadable(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    ReadOnlySpan<byte> name = JsonMarshal.GetRawUtf8PropertyName(p);
                    if (!(Unescaped(name) ? Utf8.IsValid(name) : Reads(p)) || !AllReadable(p.Value))
                    {
                        return false;
                    }
                }
                return true;
            case JsonValueKind.Array:
                foreach (JsonElement item in e.EnumerateArray())
                {
                    if (!AllReadable(item))
                    {
                        return false;
                    }
                }
                return true;
            case JsonValueKind.String:
                ReadOnlySpan<byte> text = JsonMarshal.GetRawUtf8Value(e);
                return Unescaped(text) ? Utf8.IsValid(text) : Reads(e);
            default:
                return true;
        }
    }

    // Unescaped, a string's bytes read as text exactly when they are UTF-8, which reading them checks; escaped, they
    // are read, which fails on an escaped half of a surrogate pair.
    private static bool Unescaped(ReadOnlySpan<byte> raw) => raw.IndexOf((byte)'\\') < 0;

    private static bool Reads(JsonElement text)
    {
        try
        {
            _ = text.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool Reads(JsonProperty name)
    {
        try
        {
            _ = name.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Every string and name in <paramref name="e"/> can be read as text: the parser passes bytes that are not UTF-8
    /// and escapes of an unpaired surrogate ("\ud800"), which fail only when a field is read, as an internal error.
    /// </summary>
    private static void RequireReadableText(JsonElement e, string at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    string name = Readable(() => p.Name, at == "" ? "a field name" : $"a field name in {at}", param: null);
                    RequireReadableText(p.Value, at == "" ? name : $"{at}.{name}");
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in e.EnumerateArray())
                {
                    RequireReadableText(item, $"{at}[{i++}]");
                }
                break;
            case JsonValueKind.String:
                _ = Readable(e.GetString, at, param: at);
                break;
        }
    }

    /// <summary><paramref name="read"/>'s text; its failure a 400 naming <paramref name="param"/> (null for a field name, which names no field).</summary>
    private static string Readable(Func<string?> read, string at, string? param)
    {
        try
        {
            return read() ?? "";
        }
        catch (InvalidOperationException)
        {
            throw OpenAiException.BadRequest(param,
                $"{at} is not valid text: it holds bytes that are not UTF-8, or an escaped half of a surrogate pair", "invalid_json");
        }
    }

    public static OpenAiRequest Completion(JsonElement body, InferenceEngine engine) => Completion(body, engine, promptIds: null);

    /// <summary>A completions body whose prompt of token ids, when it is one, is <paramref name="promptIds"/> (<see cref="ParseBody(ReadOnlyMemory{byte}, string, bool, out TokenIdArrays?)"/>).</summary>
    public static OpenAiRequest Completion(JsonElement body, InferenceEngine engine, TokenIdArrays? promptIds)
    {
        CheckModel(body, engine);
        if (Field(body, "max_completion_tokens") is JsonElement chatBound)
        {
            // Chat's name for the bound: taken as an unknown field, it left the reply at the default of 16 tokens.
            throw Unsupported("max_completion_tokens", $"max_completion_tokens is chat's field, got {Actual(chatBound)}; /v1/completions takes max_tokens");
        }
        // The legacy API's logprobs is the count of alternatives beside each token (OpenAI allows up to 5, vLLM 20);
        // false, as null, asks for none.
        CompletionRequest request = Sampling(body, CompletionDefaultMaxTokens, "max_tokens") with
        {
            TopLogprobs = Field(body, "logprobs") switch
            {
                JsonElement { ValueKind: JsonValueKind.False } => null,
                JsonElement { ValueKind: JsonValueKind.True } lp => throw OpenAiException.BadRequest("logprobs",
                    $"logprobs must be an integer in 0..{CompletionRequest.MaxTopLogprobs} (the alternatives beside each token) or false, got {Actual(lp)}"),
                _ => Integer(body, "logprobs", 0, CompletionRequest.MaxTopLogprobs),
            },
        };
        int n = Choices(body);
        // best_of candidates of which the n best are returned: copal returns every candidate it generates, so only
        // best_of n (OpenAI's default) says what it does.
        if (Integer(body, "best_of", 1) is int bestOf && bestOf != n)
        {
            throw Unsupported("best_of", $"best_of must be n ({n}): copal returns every candidate it generates, it does not pick the best; got {bestOf}");
        }
        bool echo = Boolean(body, "echo") ?? false;
        // vLLM's: whether the tokenizer adds its special tokens (BOS) to a text prompt.
        request = request with { AddSpecialTokens = Boolean(body, "add_special_tokens") ?? true };
        // Echo with logprobs scores the prompt (what evaluation harnesses ask for, with max_tokens 0 or 1).
        request = request with { ScorePrompt = echo && request.TopLogprobs is not null };
        if (Field(body, "suffix") is JsonElement suffix)
        {
            // An empty suffix changes nothing, the neutral value accepted as the other fields' are.
            if (suffix.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest("suffix", $"suffix must be a string, got {Actual(suffix)}");
            }
            if (suffix.GetString()!.Length > 0)
            {
                throw Unsupported("suffix", "suffix is not supported; leave it out or give \"\"");
            }
        }
        return Finish(body, Prompts(body, request, n, promptIds), n) with { Echo = echo };
    }

    private static void CheckModel(JsonElement body, InferenceEngine engine)
    {
        JsonElement model = Field(body, "model") ?? throw OpenAiException.BadRequest("model", $"model is required; this server serves '{engine.ModelId}'");
        if (model.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("model", $"model must be a string, got {Actual(model)}");
        }
        if (model.GetString() != engine.ModelId)
        {
            throw new OpenAiException(404, $"the model '{model.GetString()}' does not exist; this server serves '{engine.ModelId}'", "model", "model_not_found");
        }
    }

    /// <summary>The sampling fields; MaxTokens is -1 when absent and <paramref name="defaultMax"/> is null.</summary>
    private static CompletionRequest Sampling(JsonElement body, int? defaultMax, string maxName)
    {
        RefuseOtherServersFields(body);
        double temperature = Number(body, "temperature", 0, 2) ?? 1.0;
        double topP = Number(body, "top_p", 0, 1, minExcluded: true) ?? 1.0;
        // Extensions, as vLLM's and llama.cpp's servers take them: top_k (0, or vLLM's -1, keeps every token) and HF's
        // repetition penalty (1 is off).
        int topK = Math.Max(0, Integer(body, "top_k", -1) ?? 0);
        double minP = Number(body, "min_p", 0, 1) ?? 0;
        float repetition = (float)(Number(body, "repetition_penalty", 0, float.MaxValue, minExcluded: true) ?? 1.0);
        if (repetition == 0)
        {
            // A positive number below float's smallest: it would divide by 0.
            throw OpenAiException.BadRequest("repetition_penalty", $"repetition_penalty must be a number > 0, got {Actual(body.GetProperty("repetition_penalty"))}, which single precision holds as 0");
        }
        int maxTokens = Integer(body, maxName, 0) ?? defaultMax ?? -1;
        // OpenAI's seed is any int64; without one (or with llama.cpp's -1, "random") each request draws its own.
        ulong? seed = Integer64(body, "seed") is long s and not -1 ? unchecked((ulong)s) : null;
        (ResponseFormat format, JsonElement? schema) = Format(body);
        return new CompletionRequest
        {
            MaxTokens = maxTokens,
            Temperature = (float)temperature,
            // A top_p in (0, 1] below float's smallest (1e-50) is still above 0: it keeps the likeliest token alone.
            TopP = Math.Max((float)topP, float.Epsilon),
            TopK = topK,
            MinP = (float)minP,
            RepetitionPenalty = repetition,
            PresencePenalty = (float)(Number(body, "presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(Number(body, "frequency_penalty", -2, 2) ?? 0),
            LogitBias = LogitBias(body),
            Seed = seed,
            ResponseFormat = format,
            JsonSchema = schema,
            Stop = Stops(body),
        };
    }

    private static string[] Stops(JsonElement body)
    {
        if (Field(body, "stop") is not JsonElement stop)
        {
            return [];
        }
        // Counted before a text is read: 7 million stop texts in a body were each made a string before the count refused them.
        if (stop.ValueKind == JsonValueKind.Array && stop.GetArrayLength() > MaxStops)
        {
            throw OpenAiException.BadRequest("stop", $"stop holds at most {MaxStops} texts, got {stop.GetArrayLength()}");
        }
        string[] stops = stop.ValueKind switch
        {
            JsonValueKind.String => [stop.GetString()!],
            JsonValueKind.Array when stop.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. stop.EnumerateArray().Select(e => e.GetString()!)],
            _ => throw OpenAiException.BadRequest("stop", $"stop must be a string or an array of strings, got {Actual(stop)}"),
        };
        if (stops.Any(string.IsNullOrEmpty))
        {
            throw OpenAiException.BadRequest("stop", "a stop text must not be empty");
        }
        return stops;
    }

    /// <summary>The most stop texts a request may give, as OpenAI's.</summary>
    private const int MaxStops = 4;

    private static OpenAiRequest Finish(JsonElement body, IReadOnlyList<CompletionRequest> prompts, int n)
    {
        RequireChoicesWithinBound(prompts.Count, n);
        CheckInertFields(body);
        bool stream = Boolean(body, "stream") ?? false;
        bool includeUsage = false;
        if (Field(body, "stream_options") is JsonElement o)
        {
            includeUsage = o.ValueKind == JsonValueKind.Object
                ? Boolean(o, "include_usage", "stream_options.include_usage") ?? false
                : throw OpenAiException.BadRequest("stream_options", $"stream_options must be an object, got {Actual(o)}");
            if (!stream)
            {
                // As OpenAI and vLLM answer: the options of a stream the request does not ask for say nothing.
                throw OpenAiException.BadRequest("stream_options", "stream_options is only allowed with \"stream\": true");
            }
        }
        return new OpenAiRequest(prompts, n, stream, includeUsage);
    }

    /// <summary>
    /// OpenAI's fields that change nothing copal does (who asks, what to store or bill, a cache key): accepted, but of
    /// the type OpenAI requires, so a client's mistake shows here as it would there.
    /// </summary>
    private static readonly string[] s_inertTextFields = ["user", "safety_identifier", "prompt_cache_key", "service_tier"];

    private static void CheckInertFields(JsonElement body)
    {
        foreach (string name in s_inertTextFields)
        {
            if (Field(body, name) is JsonElement e && e.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest(name, $"{name} must be a string, got {Actual(e)}");
            }
        }
        if (Field(body, "metadata") is JsonElement metadata)
        {
            if (metadata.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest("metadata", $"metadata must be an object of strings, got {Actual(metadata)}");
            }
            // OpenAI's metadata maps keys to strings: a number or an object there is refused by OpenAI, so here too.
            foreach (JsonProperty entry in metadata.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw OpenAiException.BadRequest("metadata", $"metadata[{Cut(JsonSerializer.Serialize(entry.Name))}] must be a string, got {Actual(entry.Value)}");
                }
            }
        }
        // Read for their type only, as every true/false field is.
        _ = Boolean(body, "store");
        _ = Boolean(body, "parallel_tool_calls");
    }

    /// <summary>
    /// OpenAI's logit_bias: an object from token ids, written as strings, to biases in [−100, 100]; null when absent,
    /// null or empty. Whether an id is one the model can choose, the engine checks.
    /// </summary>
    private static Dictionary<int, float>? LogitBias(JsonElement body)
    {
        if (Field(body, "logit_bias") is not JsonElement bias)
        {
            return null;
        }
        if (bias.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("logit_bias", $"logit_bias must be an object of token ids and biases, got {Actual(bias)}");
        }
        var biases = new Dictionary<int, float>();
        foreach (JsonProperty entry in bias.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                throw OpenAiException.BadRequest("logit_bias", $"logit_bias keys must be token ids, got {Cut(JsonSerializer.Serialize(entry.Name))}");
            }
            if (!(entry.Value.ValueKind == JsonValueKind.Number && entry.Value.TryGetDouble(out double value) && value is >= -100 and <= 100))
            {
                throw OpenAiException.BadRequest("logit_bias", $"logit_bias[\"{id}\"] must be a number in [-100, 100], got {Actual(entry.Value)}");
            }
            if (!biases.TryAdd(id, (float)value))
            {
                throw OpenAiException.BadRequest("logit_bias", $"logit_bias names token {id} twice (as \"{entry.Name}\" and before); give each token once");
            }
        }
        return biases.Count > 0 ? biases : null;
    }

    /// <summary>
    /// A number field in [min, max], or (min, max] when <paramref name="minExcluded"/>; null when absent or null. A
    /// <paramref name="max"/> of float.MaxValue means no upper bound worth saying.
    /// </summary>
    private static double? Number(JsonElement body, string name, double min, double max, bool minExcluded = false)
    {
        if (Field(body, name) is not JsonElement e)
        {
            return null;
        }
        // A negative number past double's smallest (-1e-400) reads as -0, which "≥ 0" would take for 0 (for temperature,
        // greedy decoding): it is refused as the negative number sent.
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && (minExcluded ? v > min : v >= min) && v <= max
            && !(v == 0 && NegativeNonZero(e.GetRawText())))
        {
            return v;
        }
        string range = max == float.MaxValue ? $"{(minExcluded ? ">" : "≥")} {min}" : $"in {(minExcluded ? "(" : "[")}{min}, {max}]";
        throw OpenAiException.BadRequest(name, $"{name} must be a number {range}, got {Actual(e)}");
    }

    // A JSON number's text that is negative with a digit other than 0 before any exponent.
    private static bool NegativeNonZero(string number)
    {
        int exponent = number.IndexOfAny(['e', 'E']);
        return number.StartsWith('-') && number.AsSpan(0, exponent < 0 ? number.Length : exponent).IndexOfAnyInRange('1', '9') >= 0;
    }

    /// <summary>An integer field in [min, max]; null when absent or null.</summary>
    private static int? Integer(JsonElement body, string name, int min, int max = int.MaxValue)
    {
        if (Field(body, name) is not JsonElement e)
        {
            return null;
        }
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) && v >= min && v <= max)
        {
            return (int)v;
        }
        string range = max == int.MaxValue && !(e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long big) && big > max)
            ? $"≥ {min}" : $"in [{min}, {max}]";
        throw OpenAiException.BadRequest(name, $"{name} must be an integer {range}, got {Actual(e)}");
    }

    /// <summary>A 64-bit integer field; null when absent or null.</summary>
    private static long? Integer64(JsonElement body, string name)
    {
        if (Field(body, name) is not JsonElement e)
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) ? v
            : throw OpenAiException.BadRequest(name, $"{name} must be a 64-bit integer, got {Actual(e)}");
    }

    /// <summary>A true/false field; null when absent or null. <paramref name="param"/> is how an error names it (default: <paramref name="name"/>).</summary>
    private static bool? Boolean(JsonElement obj, string name, string? param = null)
    {
        if (Field(obj, name) is not JsonElement e)
        {
            return null;
        }
        return e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean()
            : throw OpenAiException.BadRequest(param ?? name, $"{param ?? name} must be true or false, got {Actual(e)}");
    }

    /// <summary>An array field; null when absent or null.</summary>
    private static JsonElement? Array(JsonElement body, string name)
    {
        if (Field(body, name) is not JsonElement e)
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.Array ? e
            : throw OpenAiException.BadRequest(name, $"{name} must be an array, got {Actual(e)}");
    }

    /// <summary>A field of an object, or null when it is absent or JSON null (OpenAI's "not given").</summary>
    private static JsonElement? Field(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? e : null;

    // Fields of vLLM's and llama.cpp's servers that copal does not implement, set to a value that changes the reply
    // (OtherServersFields, which CopalChatClient checks its AdditionalProperties against too).
    private static void RefuseOtherServersFields(JsonElement body) => Refuse(body, chatFields: false);

    private static void RefuseOtherServersChatFields(JsonElement body) => Refuse(body, chatFields: true);

    private static void Refuse(JsonElement body, bool chatFields)
    {
        if (OtherServersFields.FirstSet(name => Field(body, name), chatFields) is (string name, JsonElement e, string instead))
        {
            throw Unsupported(name, $"{name} is not supported by copal, got {Actual(e)}; {instead}");
        }
    }

    private static OpenAiException Unsupported(string param, string message) => OpenAiException.BadRequest(param, message, "unsupported_parameter");

    /// <summary>A value as an error message quotes it: numbers and strings as written (cut at 40 characters), else its kind.</summary>
    private static string Actual(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => e.GetArrayLength() == 0 ? "an empty array" : "an array",
        JsonValueKind.String => $"the string {Cut(e.GetRawText())}",
        JsonValueKind.Number => Cut(e.GetRawText()),
        JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => "null",
    };

    private static string Cut(string raw) => raw.Length <= 40 ? raw : raw[..37] + "...";
}
