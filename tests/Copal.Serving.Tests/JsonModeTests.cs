using System.Text;
using System.Text.Json;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// OpenAI's JSON mode, <c>"response_format": {"type": "json_object"}</c>, on both endpoints: every streamed chunk leaves
/// the reply a prefix of a JSON object (as System.Text.Json's reader judges it, not the automaton that made it), a reply
/// that stops is a whole object, greedy and sampled, and a format copal does not know is refused (schemas: <see cref="StructuredOutputsTests"/>).
/// </summary>
public sealed class JsonModeTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Model = "stories260K";
    private const string Completions = "/v1/completions";
    private const string Chat = "/v1/chat/completions";
    private static readonly object[] s_messages = [new { role = "user", content = "Give me a JSON object" }];
    private static readonly object s_json = new { type = "json_object" };

    // stories260K writes key after key and never closes the object by itself (its likeliest tokens are prose): a bias
    // towards '}' (byte-fallback token 128, the only token with the byte) lets it close once it has written a member.
    private const int CloseBrace = 128;

    /// <summary>
    /// Asserts <paramref name="text"/> is a prefix of a JSON object: it starts with '{' (when it has anything) and
    /// System.Text.Json's reader, told more may follow, finds nothing wrong in it.
    /// </summary>
    private static void AssertObjectPrefix(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Assert.True(bytes.Length == 0 || bytes[0] == '{', text);
        var reader = new Utf8JsonReader(bytes, isFinalBlock: false, default);
        try
        {
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            Assert.Fail($"not a prefix of JSON ({e.Message}): {text}");
        }
    }

    private static void AssertWholeObject(string text)
    {
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
    }

    private static string Text(JsonElement choice, bool chat) =>
        chat ? (choice.GetProperty(choice.TryGetProperty("delta", out _) ? "delta" : "message").TryGetProperty("content", out JsonElement c) ? c.GetString() ?? "" : "")
            : choice.GetProperty("text").GetString()!;

    private static object Body(bool chat, int maxTokens, double temperature, bool bias, bool stream, int n = 1) => chat
        ? new { model = Model, messages = s_messages, max_tokens = maxTokens, temperature, seed = 3, n, response_format = s_json, stream,
            logit_bias = bias ? new Dictionary<string, int> { [$"{CloseBrace}"] = 12 } : null }
        : new { model = Model, prompt = "Once upon a time", max_tokens = maxTokens, temperature, seed = 3, n, response_format = s_json, stream,
            logit_bias = bias ? new Dictionary<string, int> { [$"{CloseBrace}"] = 12 } : null };

    [Theory]
    [InlineData(true, 0.0, false)]
    [InlineData(true, 1.0, false)]
    [InlineData(true, 0.0, true)]
    [InlineData(true, 1.0, true)]
    [InlineData(false, 0.0, false)]
    [InlineData(false, 1.0, true)]
    public async Task Every_chunk_leaves_a_JSON_object_prefix_and_a_reply_that_stops_is_a_whole_object(bool chat, double temperature, bool bias)
    {
        // Unbiased the model never closes the object: max_tokens cuts it (length). Biased it closes within 100 tokens.
        int maxTokens = bias ? 300 : 60;
        JsonElement[] chunks = await server.StreamEventsAsync(chat ? Chat : Completions, Body(chat, maxTokens, temperature, bias, stream: true));
        var text = new StringBuilder();
        string? finish = null;
        foreach (JsonElement chunk in chunks)
        {
            JsonElement choice = chunk.GetProperty("choices")[0];
            text.Append(Text(choice, chat));
            AssertObjectPrefix(text.ToString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
            {
                finish = choice.GetProperty("finish_reason").GetString();
            }
        }
        Assert.Equal(bias ? "stop" : "length", finish);
        if (bias)
        {
            AssertWholeObject(text.ToString());
            Assert.EndsWith("}", text.ToString(), StringComparison.Ordinal);
        }
        else
        {
            Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text.ToString()).Dispose());
        }
        // Not streamed, the same reply (the seed fixes the draws).
        JsonElement whole = (await server.PostOkAsync(chat ? Chat : Completions, Body(chat, maxTokens, temperature, bias, stream: false))).GetProperty("choices")[0];
        Assert.Equal(text.ToString(), Text(whole, chat));
        Assert.Equal(finish, whole.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task The_mask_comes_before_top_k_and_top_p_and_the_log_probabilities_stay_the_models()
    {
        // Were the mask applied after top-k 1, the one token kept would be prose, masked, and nothing would be left.
        string greedy = Text((await server.PostOkAsync(Chat, Body(true, 30, 0, false, false))).GetProperty("choices")[0], true);
        foreach (object sampled in new object[]
        {
            new { model = Model, messages = s_messages, max_tokens = 30, temperature = 1.5, top_k = 1, seed = 5, response_format = s_json },
            new { model = Model, messages = s_messages, max_tokens = 30, temperature = 1.5, top_p = 1e-9, seed = 5, response_format = s_json },
        })
        {
            Assert.Equal(greedy, Text((await server.PostOkAsync(Chat, sampled)).GetProperty("choices")[0], true));
        }
        // The first step's log-probabilities are the model's own: the same as a plain request's, though JSON mode chose '{'.
        async Task<JsonElement> Logprobs(object? format) => (await server.PostOkAsync(Chat, new { model = Model, messages = s_messages, max_tokens = 1, temperature = 0, logprobs = true, top_logprobs = 5, response_format = format }))
            .GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content")[0];
        JsonElement plain = await Logprobs(null), json = await Logprobs(s_json);
        Assert.Equal("{", json.GetProperty("token").GetString());
        Assert.Equal(plain.GetProperty("top_logprobs").GetRawText(), json.GetProperty("top_logprobs").GetRawText());
        Assert.DoesNotContain(plain.GetProperty("top_logprobs").EnumerateArray(), t => t.GetProperty("token").GetString() == "{");
    }

    [Fact]
    public async Task Every_choice_of_every_prompt_is_held_to_JSON()
    {
        JsonElement reply = await server.PostOkAsync(Completions, new { model = Model, prompt = new[] { "Once upon a time", "The cat" }, max_tokens = 25, temperature = 1, seed = 9, n = 3, response_format = s_json });
        JsonElement[] choices = [.. reply.GetProperty("choices").EnumerateArray()];
        Assert.Equal(6, choices.Length);
        foreach (JsonElement c in choices)
        {
            Assert.StartsWith("{", c.GetProperty("text").GetString(), StringComparison.Ordinal);
            AssertObjectPrefix(c.GetProperty("text").GetString()!);
        }
        Assert.True(choices.Select(c => c.GetProperty("text").GetString()).Distinct().Count() > 1, "the choices drew alike");
        JsonElement chat = await server.PostOkAsync(Chat, Body(true, 300, 1, true, false, n: 3));
        foreach (JsonElement c in chat.GetProperty("choices").EnumerateArray())
        {
            string text = Text(c, true);
            AssertObjectPrefix(text);
            if (c.GetProperty("finish_reason").GetString() == "stop")
            {
                AssertWholeObject(text);
            }
        }
    }

    [Theory]
    [InlineData(Chat, "{\"type\":\"xml\"}")]
    [InlineData(Completions, "{\"type\":\"regex\"}")]
    public async Task Another_format_is_an_unsupported_parameter_that_names_what_is(string path, string format)
    {
        string messages = path == Chat ? "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]" : "\"prompt\":\"Hi\"";
        (int status, string body) = await server.PostAsync(path, JsonDocument.Parse($"{{\"model\":\"{Model}\",{messages},\"response_format\":{format}}}").RootElement);
        Assert.Equal(400, status);
        JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("response_format", error.GetProperty("param").GetString());
        Assert.Equal("unsupported_parameter", error.GetProperty("code").GetString());
        Assert.Contains("json_object", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vocabulary_that_cannot_write_JSON_ends_the_reply_with_an_error_naming_response_format()
    {
        // Only <unk>, <s> and </s> may be chosen: none writes a '{'.
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { DecodableTokens = 3 });
        CompletionRequestException e = await Assert.ThrowsAsync<CompletionRequestException>(() =>
            engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 5, ResponseFormat = ResponseFormat.JsonObject }));
        Assert.Equal("response_format", e.Parameter);
        Assert.Contains("after 0 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("'{'", e.Message, StringComparison.Ordinal);
        // The engine goes on serving.
        Assert.Null(engine.Fault);
        Assert.Equal(5, (await engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 5 })).Usage.CompletionTokens);
        CompletionRequestException undefined = Assert.Throws<CompletionRequestException>(() => engine.Prepare(new CompletionRequest { Prompt = "Once", ResponseFormat = (ResponseFormat)7 }));
        Assert.Equal("response_format", undefined.Parameter);
    }
}
