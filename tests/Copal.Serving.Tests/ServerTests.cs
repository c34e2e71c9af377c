using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using Copal.Model.Chat;
using OpenAI.Chat;

namespace Copal.Serving.Tests;

/// <summary>copal's OpenAI-compatible API driven by the official OpenAI .NET client.</summary>
public sealed class ServerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Model = "stories260K";

    private async Task<(int Status, JsonElement Body)> PostCompletionAsync(object body)
    {
        (int status, string text) = await server.PostAsync("/v1/completions", body);
        return (status, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task A_completion_is_the_greedy_continuation_with_its_usage()
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time");
        var (text, ids) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 40);
        var (status, body) = await PostCompletionAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 40, temperature = 0 });
        Assert.Equal(200, status);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        JsonElement choice = body.GetProperty("choices")[0];
        Assert.Equal(text, choice.GetProperty("text").GetString());
        Assert.Equal(ids.Length == 40 ? "length" : "stop", choice.GetProperty("finish_reason").GetString());
        JsonElement usage = body.GetProperty("usage");
        Assert.Equal(prompt.Length, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(ids.Length, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(prompt.Length + ids.Length, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task A_completion_continues_the_prompt_with_the_leading_space_of_its_first_word()
    {
        // SentencePiece's decoder strips the first space of a text: the reply decoded alone would read "time, …", and
        // prompt + text "Once upon atime". OpenAI and vLLM return what follows the prompt in the full decode.
        int[] prompt = server.Tokenizer.Encode("Once upon a");
        var (text, ids) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 3);
        var (status, body) = await PostCompletionAsync(new { model = Model, prompt = "Once upon a", max_tokens = 3, temperature = 0 });
        Assert.Equal(200, status);
        string served = body.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(text, served);
        Assert.StartsWith(" ", served, StringComparison.Ordinal);
        Assert.Equal(server.Tokenizer.Decode([.. prompt, .. ids]), "Once upon a" + served);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_prompt_of_token_ids_alone_or_in_a_list_of_one_completes_as_its_text(bool inAList)
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time");
        var (text, _) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 20);
        object ids = inAList ? new[] { prompt } : prompt;
        var (status, body) = await PostCompletionAsync(new { model = Model, prompt = ids, max_tokens = 20, temperature = 0 });
        Assert.Equal(200, status);
        Assert.Equal(text, body.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(prompt.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task A_stop_text_ends_the_completion_before_it_with_finish_reason_stop()
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time");
        var (full, _) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 40);
        // A stop text that spans token boundaries, taken from the middle of the greedy text.
        string stop = full.Substring(full.Length / 2, 6);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        var (status, body) = await PostCompletionAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 40, temperature = 0, stop = new[] { "zzzz", stop } });
        Assert.Equal(200, status);
        JsonElement choice = body.GetProperty("choices")[0];
        Assert.Equal(expected, choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.True(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32() < 40);

        // The same through chat streaming: no part of the stop text is ever sent.
        ChatClient chat = server.Client().GetChatClient(Model);
        var turns = new List<ChatTurn> { new("user", "Tell a story") };
        string reply = Reference.Chat(server.Model, server.Tokenizer, turns, 30);
        string chatStop = reply.Substring(reply.Length / 2, 5);
        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (StreamingChatCompletionUpdate u in chat.CompleteChatStreamingAsync([new UserChatMessage("Tell a story")],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30, StopSequences = { chatStop } }))
        {
            foreach (ChatMessageContentPart part in u.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
            finish ??= u.FinishReason;
        }
        Assert.Equal(reply[..reply.IndexOf(chatStop, StringComparison.Ordinal)], streamed.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
    }

    [Fact]
    public async Task Chat_gives_the_reply_of_the_plain_chat_format_with_usage_streaming_or_not()
    {
        ChatClient chat = server.Client().GetChatClient(Model);
        var turns = new List<ChatTurn> { new("system", "You tell stories."), new("user", "Once upon a time") };
        string expected = Reference.Chat(server.Model, server.Tokenizer, turns, 25);
        ChatMessage[] messages = [new SystemChatMessage("You tell stories."), new UserChatMessage("Once upon a time")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 25, Seed = 3 };

        ChatCompletion completion = (await chat.CompleteChatAsync(messages, options)).Value;
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        ChatPrompt prompt = PlainChatFormatter.Instance.Format(turns);
        Assert.Equal(server.Tokenizer.Encode(prompt.Text).Length, completion.Usage.InputTokenCount);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 25);

        var streamed = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (StreamingChatCompletionUpdate u in chat.CompleteChatStreamingAsync(messages, options))
        {
            updates++;
            foreach (ChatMessageContentPart part in u.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
            usage ??= u.Usage;
        }
        Assert.Equal(expected, streamed.ToString());
        Assert.True(updates > 3, $"{updates} updates: the reply was not streamed");
        Assert.NotNull(usage);
        Assert.Equal(completion.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(completion.Usage.InputTokenCount, usage.InputTokenCount);
    }

    /// <summary>OpenAI's stream with include_usage: every chunk has a "usage" key, null but on the last, which has no choices.</summary>
    [Fact]
    public async Task A_stream_with_usage_has_the_key_on_every_chunk_and_the_counts_on_the_last()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        string body = "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":5,"
            + "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/chat/completions"), content);
        Assert.Equal(200, (int)response.StatusCode);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        JsonElement[] chunks = [.. events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.Clone())];
        Assert.True(chunks.Length > 3, $"{chunks.Length} chunks");
        Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(5, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    /// <summary>A streamed chat opens as OpenAI's does: a first chunk whose delta is the role and an empty content, no finish reason.</summary>
    [Fact]
    public async Task A_streamed_chat_opens_with_the_role_and_empty_content()
    {
        JsonElement[] chunks = await server.StreamEventsAsync("/v1/chat/completions",
            new { model = Model, messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 2, stream = true });
        JsonElement first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("""{"role":"assistant","content":""}""", first.GetProperty("delta").GetRawText());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);
    }

    /// <summary>
    /// include_usage is false unless given, as OpenAI's: stream_options without it (or with false) asks for no usage,
    /// so no chunk carries the key and none comes without choices.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_whose_options_leave_out_include_usage_sends_no_usage(bool givenFalse)
    {
        object options = givenFalse ? new { include_usage = false } : new { };
        JsonElement[] chunks = await server.StreamEventsAsync("/v1/completions", new { model = Model, prompt = "Once", max_tokens = 3, stream = true, stream_options = options });
        Assert.NotEmpty(chunks);
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _), c.ToString()));
        Assert.All(chunks, c => Assert.NotEqual(0, c.GetProperty("choices").GetArrayLength()));
    }

    /// <summary>
    /// A stream names its charset, as OpenAI's and vLLM's do: text/* without one reads as ISO-8859-1 to HTTP clients
    /// that follow RFC 2616's default (Python's requests does), which turned every non-ASCII character of a streamed
    /// reply into mojibake ("á" as "Ã¡").
    /// </summary>
    [Theory]
    [InlineData("/v1/chat/completions", "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]")]
    [InlineData("/v1/completions", "\"prompt\":\"Hi\"")]
    public async Task A_stream_names_utf8_as_its_charset(string path, string input)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var content = new StringContent("{\"model\":\"" + Model + "\"," + input + ",\"max_tokens\":2,\"stream\":true}", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, path), content);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
    }

    [Fact]
    public async Task Models_lists_the_served_model_and_health_answers()
    {
        OpenAI.Models.OpenAIModel model = (await server.Client().GetOpenAIModelClient().GetModelAsync(Model)).Value;
        Assert.Equal(Model, model.Id);
        OpenAI.Models.OpenAIModelCollection all = (await server.Client().GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal([Model], all.Select(m => m.Id));
        using var http = new HttpClient();
        string health = await http.GetStringAsync(new Uri(server.Server.Address, "/health"));
        Assert.Equal("ok", JsonDocument.Parse(health).RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":-1}", 400, "max_tokens", null)]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":\"a\",\"temperature\":3}", 400, "temperature", null)]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":\"a\",\"n\":129}", 400, "n", null, "n must be an integer in [1, 128], got 129")]
    [InlineData("{\"model\":\"stories260K\"}", 400, "prompt", null)]
    [InlineData("{\"model\":\"gpt-4\",\"prompt\":\"a\"}", 404, "model", "model_not_found")]
    [InlineData("{\"model\":\"Stories260K\",\"prompt\":\"a\"}", 404, "model", "model_not_found")] // ids are matched exactly, as OpenAI's and vLLM's
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[1,2,99999]}", 400, "prompt", null)]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[\"a\",[1,2]]}", 400, "prompt", null, "got an array of strings and arrays")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[1,2],[]]}", 400, "prompt", null, "prompt[1] must be a non-empty array of token ids, got an empty array")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[1,2],[3,1.5]]}", 400, "prompt", null, "prompt[1] must hold integer token ids, got 1.5")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[1,2],[3,99999]]}", 400, "prompt", null, "prompt[1]: token id 99999 is outside the vocabulary [0, 512)")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[1,2],[3,512]]}", 400, "prompt", null, "prompt[1]: token id 512 is outside the vocabulary [0, 512)")] // the first id past it (mutation round 6: > for >= passed)
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[1,\"a\"]}", 400, "prompt", null, "got an array of numbers and strings")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[]}", 400, "prompt", null, "got an empty array")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[]]}", 400, "prompt", null, "prompt must be a non-empty array of token ids, got an empty array")]
    [InlineData("not json", 400, null, "invalid_json")]
    [InlineData("[1]", 400, null, null, "must be a JSON object, got an array")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":\"a\\ud800b\"}", 400, "prompt", "invalid_json", "an escaped half of a surrogate pair")]
    public async Task A_bad_request_gets_an_openai_error_naming_the_field(string body, int status, string? param, string? code, string? says = null)
    {
        using var http = new HttpClient();
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/completions"), content);
        Assert.Equal(status, (int)response.StatusCode);
        JsonElement error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        string message = error.GetProperty("message").GetString()!;
        Assert.False(string.IsNullOrEmpty(message));
        Assert.DoesNotContain("LineNumber", message, StringComparison.Ordinal); // the JSON reader's own wording
        if (says is not null)
        {
            Assert.EndsWith(says, message);
        }
        if (code == "invalid_json" && param is null)
        {
            Assert.Equal("the request body is not valid JSON at line 1, byte 2", message); // "n" could start null; "o" cannot follow
        }
    }

    /// <summary>
    /// A prompt far past the context is refused from its length, before its encoding (which for a long run without
    /// spaces costs the square of it); a chat's is named by its field, messages, not the rendered prompt.
    /// </summary>
    [Fact]
    public async Task A_prompt_far_past_the_context_is_refused_by_its_length_and_a_chat_names_messages()
    {
        using var http = new HttpClient();
        string run = new('z', 400_000);
        (JsonElement completion, int status) = await PostError(http, "/v1/completions", $"{{\"model\":\"{Model}\",\"prompt\":\"{run}\"}}");
        Assert.Equal(400, status);
        Assert.Equal("prompt", completion.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", completion.GetProperty("code").GetString());
        Assert.StartsWith("the prompt has at least ", completion.GetProperty("message").GetString(), StringComparison.Ordinal);
        string words = string.Join(" ", Enumerable.Repeat("dog", 600));
        (JsonElement chat, status) = await PostError(http, "/v1/chat/completions",
            $"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"{words}\"}}]}}");
        Assert.Equal(400, status);
        Assert.Equal("messages", chat.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", chat.GetProperty("code").GetString());
    }

    private async Task<(JsonElement Error, int Status)> PostError(HttpClient http, string path, string body)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, path), content);
        return (JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").Clone(), (int)response.StatusCode);
    }

    /// <summary>Valid JSON past the parser's depth is told as such, not as invalid JSON.</summary>
    [Fact]
    public async Task A_body_nested_too_deep_is_a_400_that_says_so()
    {
        using var http = new HttpClient();
        string body = "{\"model\":\"stories260K\",\"prompt\":\"a\",\"x\":" + new string('[', 100) + new string(']', 100) + "}";
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/completions"), content);
        Assert.Equal(400, (int)response.StatusCode);
        JsonElement error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        Assert.StartsWith("the request body nests arrays and objects deeper than 64 levels at line 1", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("prompt", "{\"model\":\"stories260K\",\"prompt\":\"a\u00ff\u00feb\"}")]
    [InlineData("model", "{\"model\":\"stories\u00ff\",\"prompt\":\"a\"}")]
    [InlineData(null, "{\"mo\u00ffdel\":\"stories260K\",\"prompt\":\"a\"}")]
    public async Task Bytes_that_are_not_utf8_in_a_string_are_a_400_naming_the_field(string? param, string latin1Body)
    {
        // The parser passes them; reading the field failed as an internal error.
        using var http = new HttpClient();
        using var content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes(latin1Body));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/completions"), content);
        Assert.Equal(400, (int)response.StatusCode);
        JsonElement error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_body_after_a_utf8_byte_order_mark_is_read()
    {
        using var http = new HttpClient();
        byte[] json = System.Text.Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":2}");
        using var content = new ByteArrayContent([0xEF, 0xBB, 0xBF, .. json]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/completions"), content);
        Assert.Equal(200, (int)response.StatusCode);
    }

    /// <summary>An unknown URL's 404 lists the endpoints: every one the server maps, /metrics and /v1/models/{id} included.</summary>
    [Fact]
    public async Task An_unknown_url_is_a_404_that_lists_every_endpoint()
    {
        using var http = new HttpClient();
        using HttpResponseMessage response = await http.GetAsync(new Uri(server.Server.Address, "/v1/nothing"));
        Assert.Equal(404, (int)response.StatusCode);
        string message = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString()!;
        foreach (string endpoint in new[] { "POST /v1/completions", "POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{id}", "GET /health",
            "GET /metrics", "GET /tokenizer_info", "POST /tokenize", "POST /detokenize" })
        {
            Assert.Contains(endpoint, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrong_method_is_a_405_that_names_the_allowed_one_and_head_probes_health()
    {
        using var http = new HttpClient();
        using HttpResponseMessage put = await http.PutAsync(new Uri(server.Server.Address, "/v1/chat/completions"), new StringContent("{}"));
        Assert.Equal(405, (int)put.StatusCode);
        Assert.Equal(["POST"], put.Content.Headers.Allow);
        using HttpResponseMessage head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(server.Server.Address, "/health")));
        Assert.Equal(200, (int)head.StatusCode);
    }

    [Fact]
    public async Task The_openai_client_reports_a_bad_request_as_its_error_with_the_status()
    {
        ChatClient chat = server.Client().GetChatClient("no-such-model");
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("no-such-model", e.Message);

        ChatClient good = server.Client().GetChatClient(Model);
        e = await Assert.ThrowsAsync<ClientResultException>(() => good.CompleteChatAsync([new UserChatMessage(string.Join(" ", Enumerable.Repeat("dog", 600)))]));
        Assert.Equal(400, e.Status);
        Assert.Contains("context_length_exceeded", e.Message);
    }
}
