using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// Tool calling in serve: the tools and the conversation's calls and results shown to the model by its template, the
/// calls read back from the reply into OpenAI's tool_calls. stories260K writes no calls, so the answers are checked on
/// made-up replies and the whole server on what it renders and refuses.
/// </summary>
public sealed class ToolCallTests : IDisposable
{
    private static readonly OfferedTools s_weather = new([], ["get_weather", "get_time"], ToolCallFormat.Hermes, Parallel: true);
    private const string Call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    private readonly Stories260KEngine _stories = new();


    public void Dispose() => _stories.Dispose();

    /// <summary>A template short enough for stories260K's 512 positions: the tools' names, then each message with its calls, result id and text.</summary>
    private static TemplateChatFormatter ShortToolTemplate { get; } = new(new ChatTemplate(
        "{% if tools %}{% for t in tools %}{{ t.function.name }} {% endfor %}<tool_call>\n{% endif %}"
        + "{% for m in messages %}{{ m.role }}: {% if m.tool_calls %}{% for c in m.tool_calls %}{{ c.id }} {{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}{% endif %}"
        + "{{ m.content if m.content else '' }}{% if m.tool_call_id %} [{{ m.tool_call_id }}]{% endif %}{{ '\\n' }}{% endfor %}assistant:"));

    private const string WeatherParameters = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
        + "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}";

    private const string TimeParameters = "{\"type\":\"object\",\"properties\":{\"tz\":{\"enum\":[\"CET\",\"UTC\"]}},\"required\":[\"tz\"],\"additionalProperties\":false}";

    private const string TwoTools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":" + WeatherParameters + "}},"
        + "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]";

    /// <summary>
    /// A forced call (tool_choice naming a function, or "required") is made by structured outputs, as vLLM makes it:
    /// stories260K, which writes no calls of its own, answers one whose arguments the function's schema accepts.
    /// </summary>
    [Fact]
    public async Task A_forced_call_comes_back_as_a_call_whose_arguments_the_functions_schema_accepts_whole_or_streamed()
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, ShortToolTemplate, toolCalls: ToolCallReading.Off);
        string named = "{\"model\":\"stories260K\",\"max_tokens\":200,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}]"
            + TwoTools + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}";
        (int status, JsonElement body) = await ChatHttp.PostAsync(server, named);
        Assert.Equal(200, status);
        JsonElement choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("content").ValueKind);
        JsonElement call = choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray().Single().GetProperty("function");
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        string arguments = call.GetProperty("arguments").GetString()!;
        using (JsonDocument parsed = JsonDocument.Parse(arguments))
        {
            Assert.True(Json.Schema.JsonSchema.FromText(WeatherParameters).Evaluate(parsed.RootElement).IsValid, arguments);
        }

        // Streamed: nothing as content, the call whole in the last delta (greedy: the same arguments).
        List<JsonElement> deltas = await ChatHttp.StreamDeltasAsync(server, named.Insert(1, "\"stream\":true,"));
        Assert.DoesNotContain(deltas, d => d.TryGetProperty("content", out JsonElement c) && c.GetString() is { Length: > 0 });
        JsonElement streamed = deltas[^1].GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal(arguments, streamed.GetProperty("arguments").GetString());

        // required, of two: the reply names one, and its arguments are held to that function's parameters. A bias on
        // "t" makes stories260K pick get_time, whose tz is required, and one on "}" closes each object as soon as it
        // may (held to an object only, as before the union, the arguments were an empty "{}").
        int close = Enumerable.Range(0, _stories.Engine.Tokenizer.VocabSize).First(id => _stories.Engine.Tokenizer.Decode([id]) == "}");
        int t = Enumerable.Range(0, _stories.Engine.Tokenizer.VocabSize).First(id => _stories.Engine.Tokenizer.Decode([id]) == "t");
        string timeOrDate = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":" + TimeParameters + "}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"get_date\"}}]";
        string required = named.Replace(TwoTools, timeOrDate, StringComparison.Ordinal)
            .Replace("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}", $"\"required\",\"logit_bias\":{{\"{close}\":100,\"{t}\":100}}}}", StringComparison.Ordinal)
            .Replace("\"max_tokens\":200", "\"max_tokens\":400", StringComparison.Ordinal);
        (status, body) = await ChatHttp.PostAsync(server, required);
        Assert.Equal(200, status);
        Assert.True("tool_calls" == body.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), body.GetRawText());
        JsonElement any = body.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls").EnumerateArray().Single().GetProperty("function");
        Assert.Equal("get_time", any.GetProperty("name").GetString());
        using JsonDocument anyArguments = JsonDocument.Parse(any.GetProperty("arguments").GetString()!);
        Assert.True(Json.Schema.JsonSchema.FromText(TimeParameters).Evaluate(anyArguments.RootElement).IsValid, anyArguments.RootElement.GetRawText());
    }

    private static OpenAiChoice Choice(OfferedTools tools) =>
        new(0, countsPrompt: true, new CompletionRequest { Prompt = "" }, chat: true, echo: null, splitter: null, logprobs: null, tools);

    [Fact]
    public void A_reply_that_calls_tools_answers_them_in_tool_calls_after_its_text_with_finish_reason_tool_calls()
    {
        OpenAiChoice choice = Choice(s_weather);
        choice.Gather(new CompletionChunk("Sure.\n" + Call + "\n<tool_call>{\"name\": \"get_time\"}</tool_call>", [1]) { FinishReason = FinishReason.Stop });
        JsonObject whole = choice.Whole();
        Assert.Equal("tool_calls", whole["finish_reason"]!.GetValue<string>());
        JsonObject message = whole["message"]!.AsObject();
        Assert.Equal("Sure.\n", message["content"]!.GetValue<string>());
        JsonArray calls = message["tool_calls"]!.AsArray();
        Assert.Equal(2, calls.Count);
        Assert.Matches("^call_[0-9a-f]{24}$", calls[0]!["id"]!.GetValue<string>());
        Assert.NotEqual(calls[0]!["id"]!.GetValue<string>(), calls[1]!["id"]!.GetValue<string>());
        Assert.Equal("""{"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}""", Without(calls[0]!, "id"));
        Assert.Equal("""{"type":"function","function":{"name":"get_time","arguments":"{}"}}""", Without(calls[1]!, "id"));

        // parallel_tool_calls false keeps the first call.
        OpenAiChoice single = Choice(s_weather with { Parallel = false });
        single.Gather(new CompletionChunk(Call + Call, [1]) { FinishReason = FinishReason.Stop });
        Assert.Single(single.Whole()["message"]!["tool_calls"]!.AsArray());
    }

    [Fact]
    public void A_reply_without_calls_is_content_with_no_tool_calls_and_its_own_finish_reason()
    {
        OpenAiChoice choice = Choice(s_weather);
        choice.Gather(new CompletionChunk("It is sunny. <tool_call>{\"name\": \"get_wea", [1]) { FinishReason = FinishReason.Length });
        JsonObject whole = choice.Whole();
        Assert.Equal("length", whole["finish_reason"]!.GetValue<string>());
        Assert.Equal("It is sunny. <tool_call>{\"name\": \"get_wea", whole["message"]!["content"]!.GetValue<string>());
        Assert.Empty(whole["message"]!["tool_calls"]!.AsArray());
    }

    [Fact]
    public void A_streamed_reply_sends_its_text_as_it_comes_then_the_calls_in_one_delta_with_the_finish_reason()
    {
        var reply = new ToolCallReply(s_weather);
        string text = "On it." + Call;
        var sent = new List<JsonObject>();
        for (int at = 0; at < text.Length; at += 5)
        {
            bool last = at + 5 >= text.Length;
            var chunk = new CompletionChunk(text[at..Math.Min(text.Length, at + 5)], [at]) { FinishReason = last ? FinishReason.Stop : null };
            sent.AddRange(OpenAiChoice.ChatDeltas(chunk, null, 0, reply));
        }
        Assert.Equal("On it.", string.Concat(sent.Select(d => d["delta"]!["content"]?.GetValue<string>())));
        JsonObject end = sent[^1];
        Assert.Equal("tool_calls", end["finish_reason"]!.GetValue<string>());
        JsonNode call = end["delta"]!["tool_calls"]!.AsArray().Single()!;
        Assert.Equal(0, call["index"]!.GetValue<int>());
        Assert.Equal("""{"index":0,"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}""", Without(call, "id"));
        Assert.All(sent.SkipLast(1), d => Assert.Null(d["finish_reason"]));
    }

    /// <summary>A last chunk that brings text and a call gives two deltas: the finish reason rides on the last alone.</summary>
    [Fact]
    public void A_last_chunk_of_text_and_a_call_gives_the_finish_reason_on_its_last_delta()
    {
        List<JsonObject> deltas = OpenAiChoice.ChatDeltas(new CompletionChunk("On it." + Call, [1]) { FinishReason = FinishReason.Stop }, null, 0, new ToolCallReply(s_weather));
        Assert.Equal(2, deltas.Count);
        Assert.Equal("On it.", deltas[0]["delta"]!["content"]!.GetValue<string>());
        Assert.Null(deltas[0]["finish_reason"]);
        Assert.Equal("tool_calls", deltas[1]["finish_reason"]!.GetValue<string>());
    }

    /// <summary>
    /// OpenAI sends a call's arguments as a string of JSON; Hugging Face's templates write them with tojson, so they are
    /// passed as an object (as vLLM does): the prompt is the reference renderer's for the same conversation.
    /// </summary>
    [Fact]
    public void A_conversation_with_calls_and_results_renders_as_the_reference_renders_it()
    {
        var formatter = TemplateGoldens.Formatter("qwen2.5-tools");
        JsonElement conversations = TemplateGoldens.Conversations();
        JsonElement roundTrip = conversations.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == "tool-call-roundtrip");
        JsonNode messages = JsonNode.Parse(roundTrip.GetProperty("messages").GetRawText())!;
        JsonNode arguments = messages[1]!["tool_calls"]![0]!["function"]!["arguments"]!;
        messages[1]!["tool_calls"]![0]!["function"]!["arguments"] = arguments.ToJsonString();
        var body = new JsonObject
        {
            ["model"] = "stories260K",
            ["messages"] = messages,
            ["tools"] = JsonNode.Parse(conversations.GetProperty("tools").GetProperty("weather").GetRawText()),
        };
        OpenAiRequest request = OpenAiRequests.Chat(JsonDocument.Parse(body.ToJsonString()).RootElement, _stories.Engine, formatter, new ToolCallReading(ToolCallFormat.Hermes, "test"));
        Assert.Equal(TemplateGoldens.Rendered("qwen2.5-tools", "tool-call-roundtrip"), request.Prompts[0].Prompt);
        Assert.Equal(["get_current_weather", "get_time"], request.Tools!.Names);
    }

    /// <summary>
    /// A call's arguments string whose JSON escapes half a surrogate pair is a 400 naming the argument, as the same text
    /// elsewhere in the request is: the template's read of it failed as an internal error.
    /// </summary>
    [Fact]
    public void A_calls_arguments_holding_half_a_surrogate_pair_are_refused_naming_the_argument()
    {
        string body = """
            {"model": "stories260K", "messages": [{"role": "user", "content": "Hi"},
             {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"\\ud83d\"}"}}]}]}
            """;
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.Chat(JsonDocument.Parse(body).RootElement, _stories.Engine, ShortToolTemplate, new ToolCallReading(ToolCallFormat.Hermes, "test")));
        Assert.Equal(400, e.Status);
        Assert.Equal("messages[1].tool_calls[0].function.arguments.city", e.Param);
        Assert.Equal("messages[1].tool_calls[0].function.arguments.city is not valid text: it holds bytes that are not UTF-8, or an escaped half of a surrogate pair", e.Message);
    }

    /// <summary>
    /// An assistant message that only calls tools comes back from OpenAI's clients with content null (or none). Many
    /// templates use the content without testing it for none: Qwen3's asks whether '&lt;/think&gt;' is in it, and failed
    /// (a 500 on every second turn of a tool conversation). Such a template is given empty text there, as llama.cpp
    /// gives it to a template that needs non-null content, and vLLM to all.
    /// </summary>
    [Fact]
    public void An_assistant_message_with_calls_and_null_content_renders_with_qwen3s_template()
    {
        JsonElement conversations = TemplateGoldens.Conversations();
        JsonElement nullContent = conversations.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == "tool-call-null-content");
        var formatter = new TemplateChatFormatter(ChatTemplate.FromDirectory(TestData.Path("tokenizers", "qwen3"))!);
        string Prompt(string? content)
        {
            JsonNode messages = JsonNode.Parse(nullContent.GetProperty("messages").GetRawText())!;
            messages[1]!["content"] = content;
            var body = new JsonObject
            {
                ["model"] = "stories260K",
                ["messages"] = messages,
                ["tools"] = JsonNode.Parse(conversations.GetProperty("tools").GetProperty("weather").GetRawText()),
            };
            return OpenAiRequests.Chat(JsonDocument.Parse(body.ToJsonString()).RootElement, _stories.Engine, formatter, new ToolCallReading(ToolCallFormat.Hermes, "test")).Prompts[0].Prompt!;
        }
        string rendered = Prompt(null);
        Assert.Equal(Prompt(""), rendered);
        Assert.Contains("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Asia/Tokyo\"}}\n</tool_call>", rendered, StringComparison.Ordinal);
    }

    /// <summary>
    /// A template that tests the content for none keeps null, as the reference renders it: DeepSeek-V3's writes an
    /// assistant's calls only when its content is none, and would drop them for empty text.
    /// </summary>
    [Fact]
    public void A_template_that_tests_content_for_none_is_given_null()
    {
        JsonElement conversations = TemplateGoldens.Conversations();
        ChatTurn[] turns =
        [
            new("user", "Time in Tokyo?"),
            new("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new List<object?> { new Dictionary<string, object?>
            {
                ["id"] = "call_2", ["type"] = "function",
                // A string, as the golden's case gives it: this template writes the arguments with '+'.
                ["function"] = new Dictionary<string, object?> { ["name"] = "get_time", ["arguments"] = "{\"tz\": \"Asia/Tokyo\"}" },
            } } }),
            new("tool", "21:05", new Dictionary<string, object?> { ["tool_call_id"] = "call_2" }),
        ];
        object[] tools = [.. conversations.GetProperty("tools").GetProperty("weather").EnumerateArray().Select(t => (object)t.Clone())];
        Assert.Equal(TemplateGoldens.Rendered("deepseek-v3", "tool-call-null-content"), TemplateGoldens.Formatter("deepseek-v3").Format(turns, null, tools).Text);
    }

    /// <summary>
    /// A Qwen3-Coder model: the request's calls (arguments a JSON string, as OpenAI sends them) render as its
    /// parameters, and a reply's calls are answered with their values typed by the request's own schemas, whole or streamed.
    /// </summary>
    [Fact]
    public void A_qwen3_coder_request_renders_calls_as_parameters_and_its_replys_calls_are_typed_by_the_requests_schemas()
    {
        var body = JsonNode.Parse("""
            {"model": "stories260K", "messages": [
              {"role": "user", "content": "Weather?"},
              {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 3}"}}]},
              {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "The weather", "parameters":
               {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}}}}}]}
            """)!;
        OpenAiRequest request = OpenAiRequests.Chat(JsonDocument.Parse(body.ToJsonString()).RootElement, _stories.Engine, TemplateGoldens.Formatter("qwen3-coder-macro"),
            new ToolCallReading(ToolCallFormat.Qwen3Coder, "test"));
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<|im_end|>\n<|im_start|>assistant\n", request.Prompts[0].Prompt, StringComparison.Ordinal);

        const string Reply = "On it.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
            + "<parameter=metric>\nTrue\n</parameter>\n</function>\n</tool_call>";
        const string Expected = """{"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"days\": 3, \"metric\": true}"}}""";
        OpenAiChoice choice = Choice(request.Tools!);
        choice.Gather(new CompletionChunk(Reply, [1]) { FinishReason = FinishReason.Stop });
        JsonObject whole = choice.Whole();
        Assert.Equal("tool_calls", whole["finish_reason"]!.GetValue<string>());
        Assert.Equal("On it.\n", whole["message"]!["content"]!.GetValue<string>());
        Assert.Equal(Expected, Without(whole["message"]!["tool_calls"]!.AsArray().Single()!, "id"));

        var reply = new ToolCallReply(request.Tools!);
        var sent = new List<JsonObject>();
        for (int at = 0; at < Reply.Length; at += 5)
        {
            var chunk = new CompletionChunk(Reply[at..Math.Min(Reply.Length, at + 5)], [at]) { FinishReason = at + 5 >= Reply.Length ? FinishReason.Stop : null };
            sent.AddRange(OpenAiChoice.ChatDeltas(chunk, null, 0, reply));
        }
        Assert.Equal("On it.\n", string.Concat(sent.Select(d => d["delta"]!["content"]?.GetValue<string>())));
        Assert.Equal("tool_calls", sent[^1]["finish_reason"]!.GetValue<string>());
        Assert.Equal(Expected.Insert(1, "\"index\":0,"), Without(sent[^1]["delta"]!["tool_calls"]!.AsArray().Single()!, "id"));
    }

    [Fact]
    public async Task The_server_shows_tools_to_a_model_whose_template_takes_them_and_answers_a_reply_without_calls_as_content()
    {
        var formatter = TemplateGoldens.Formatter("qwen2.5-tools");
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, formatter, toolCalls: new ToolCallReading(ToolCallFormat.Hermes, "test"));
        const string Tools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"description\":\"The time now\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";
        (int status, JsonElement plain) = await ChatHttp.PostAsync(server, Request(""));
        Assert.Equal(200, status);
        (status, JsonElement offered) = await ChatHttp.PostAsync(server, Request(Tools));
        Assert.Equal(200, status);
        (status, JsonElement declined) = await ChatHttp.PostAsync(server, Request(Tools + ",\"tool_choice\":\"none\""));
        Assert.Equal(200, status);
        int Prompt(JsonElement body) => body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.True(Prompt(offered) > Prompt(plain) + 20, $"{Prompt(offered)} against {Prompt(plain)}");
        Assert.Equal(Prompt(plain), Prompt(declined)); // tool_choice none: not shown, as vLLM does
        JsonElement choice = offered.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(0, choice.GetProperty("message").GetProperty("tool_calls").GetArrayLength());
        Assert.NotEmpty(choice.GetProperty("message").GetProperty("content").GetString()!);
    }

    /// <summary>What the official OpenAI client sends for tools, an earlier call and its result is taken, and its answer read.</summary>
    [Fact]
    public async Task The_official_client_offers_tools_and_sends_calls_and_results_back()
    {
        TemplateChatFormatter formatter = ShortToolTemplate;
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, formatter, toolCalls: new ToolCallReading(ToolCallFormat.Hermes, "test"));
        var client = new OpenAI.OpenAIClient(new System.ClientModel.ApiKeyCredential("unused"),
            new OpenAI.OpenAIClientOptions { Endpoint = new Uri(server.Address, "/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
        OpenAI.Chat.ChatClient chat = client.GetChatClient("stories260K");
        var options = new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 4, Temperature = 0 };
        options.Tools.Add(OpenAI.Chat.ChatTool.CreateFunctionTool("get_time", "The time now", BinaryData.FromString(TimeParameters)));
        OpenAI.Chat.ChatMessage[] messages =
        [
            new OpenAI.Chat.UserChatMessage("What time is it?"),
            new OpenAI.Chat.AssistantChatMessage([OpenAI.Chat.ChatToolCall.CreateFunctionToolCall("call_1", "get_time", BinaryData.FromString("{\"tz\":\"CET\"}"))]),
            new OpenAI.Chat.ToolChatMessage("call_1", "12:00"),
        ];
        OpenAI.Chat.ChatCompletion completion = (await chat.CompleteChatAsync(messages, options)).Value;
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, completion.FinishReason);
        Assert.Empty(completion.ToolCalls);
        Assert.NotEmpty(completion.Content);

        // A forced call, as the client asks for one, read back by it.
        var forced = new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 200, Temperature = 0, ToolChoice = OpenAI.Chat.ChatToolChoice.CreateFunctionChoice("get_time") };
        forced.Tools.Add(options.Tools[0]);
        OpenAI.Chat.ChatCompletion call = (await chat.CompleteChatAsync(messages, forced)).Value;
        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, call.FinishReason);
        OpenAI.Chat.ChatToolCall made = Assert.Single(call.ToolCalls);
        Assert.Equal("get_time", made.FunctionName);
        Assert.StartsWith("call_", made.Id, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(made.FunctionArguments.ToString()).RootElement.ValueKind);
        // The call and its result reached the template: the prompt is the one the same conversation renders to.
        string rendered = formatter.Format([
            new ChatTurn("user", "What time is it?"),
            new ChatTurn("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new List<object?> { new Dictionary<string, object?>
            {
                ["id"] = "call_1", ["type"] = "function",
                ["function"] = new Dictionary<string, object?> { ["name"] = "get_time", ["arguments"] = JsonDocument.Parse("{\"tz\":\"CET\"}").RootElement },
            } } }),
            new ChatTurn("tool", "12:00", new Dictionary<string, object?> { ["tool_call_id"] = "call_1" }),
        ], null, [JsonDocument.Parse("{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"description\":\"The time now\",\"parameters\":" + TimeParameters + "}}").RootElement]).Text;
        Assert.Equal("get_time <tool_call>\nuser: What time is it?\nassistant: call_1 get_time{\"tz\": \"CET\"}\ntool: 12:00 [call_1]\nassistant:", rendered);
        Assert.Equal(_stories.Engine.Tokenizer.Encode(rendered, addSpecialTokens: false).Length, completion.Usage.InputTokenCount);
    }

    [Theory]
    [InlineData(",\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"f\"}}]", "tools[0].type", "unsupported_parameter")]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get time\"}}]", "tools[0].function.name", null)]
    // A name that ends in a line break: a regular expression's $ matches before it, and the name was taken.
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\\n\"}}]", "tools[0].function.name", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "tools[1].function.name", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":\"{}\"}}]", "tools[0].function.parameters", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":5}}]", "tools[0].function.description", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}", "tool_choice", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}", "tool_choice", null)]
    [InlineData(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"pattern\":\"(x)\\\\1\"}}}}}],\"tool_choice\":\"required\"", "tools", "unsupported_parameter")]
    [InlineData(",\"tool_choice\":\"sometimes\"", "tool_choice", null)]
    public async Task A_tool_list_or_choice_that_cannot_be_honoured_is_a_400_naming_it(string fields, string param, string? code)
    {
        var formatter = TemplateGoldens.Formatter("qwen2.5-tools");
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, formatter, toolCalls: new ToolCallReading(ToolCallFormat.Hermes, "test"));
        (int status, JsonElement body) = await ChatHttp.PostAsync(server, Request(fields));
        Assert.Equal(400, status);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(code, body.GetProperty("error").GetProperty("code").GetString());
    }

    /// <summary>parallel_tool_calls is true unless the request says false, as OpenAI's default: then a reply's every call is kept.</summary>
    [Theory]
    [InlineData("", true)]
    [InlineData(",\"parallel_tool_calls\":null", true)]
    [InlineData(",\"parallel_tool_calls\":false", false)]
    public void Parallel_tool_calls_is_true_unless_given_false(string field, bool parallel)
    {
        JsonElement body = OpenAiRequests.ParseBody(System.Text.Encoding.UTF8.GetBytes(Request(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]" + field)));
        OpenAiRequest request = OpenAiRequests.Chat(body, _stories.Engine, ShortToolTemplate, new ToolCallReading(ToolCallFormat.Hermes, "test"));
        Assert.Equal(parallel, request.Tools!.Parallel);
    }

    /// <summary>Some clients send a call without arguments as an empty (or blank) string: it is taken as no arguments.</summary>
    [Theory]
    [InlineData("")]
    [InlineData(" \\n")]
    public async Task A_call_whose_arguments_are_an_empty_string_is_taken_as_no_arguments(string arguments)
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, ShortToolTemplate, toolCalls: new ToolCallReading(ToolCallFormat.Hermes, "test"));
        (int status, JsonElement body) = await ChatHttp.PostAsync(server, "{\"model\":\"stories260K\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Time?\"},"
            + "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"" + arguments + "\"}}]},"
            + "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"12:00\"}]}");
        Assert.True(status == 200, body.ToString());
    }

    [Theory]
    [InlineData("{\"role\":\"tool\",\"content\":\"18 C\"}", "messages[1].tool_call_id")]
    [InlineData("{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{not json\"}}]}", "messages[1].tool_calls[0].function.arguments")]
    [InlineData("{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}", "messages[1].tool_calls[0].function.arguments")]
    [InlineData("{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", "messages[1].tool_calls")]
    [InlineData("{\"role\":\"assistant\",\"tool_calls\":[{\"id\":5,\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", "messages[1].tool_calls[0].id")]
    public async Task A_malformed_tool_message_is_a_400_naming_the_field(string message, string param)
    {
        var formatter = TemplateGoldens.Formatter("qwen2.5-tools");
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, formatter, toolCalls: new ToolCallReading(ToolCallFormat.Hermes, "test"));
        (int status, JsonElement body) = await ChatHttp.PostAsync(server,
            "{\"model\":\"stories260K\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}," + message + "]}");
        Assert.Equal(400, status);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Tools_offered_to_a_model_without_a_format_are_refused_with_the_reason()
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, ShortToolTemplate, toolCalls: ToolCallReading.Off);
        (int status, JsonElement body) = await ChatHttp.PostAsync(server, Request(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
        Assert.Equal(400, status);
        Assert.Equal("tools", body.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("tools cannot be offered to this model: the server reads no tool calls; start copal serve with --tool-call-parser to name the format the model writes calls in",
            body.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>
    /// A model without a chat template has nothing to show it the tools, whatever --tool-call-parser names (serve then
    /// reads no format either), so its refusal gives the reason and does not point at that option.
    /// </summary>
    [Fact]
    public async Task Tools_offered_to_a_model_without_a_chat_template_are_refused_without_pointing_at_a_parser()
    {
        (ToolCallFormat format, string reason) = ToolCallFormats.Detect(null);
        await using OpenAiServer plain = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, toolCalls: new ToolCallReading(format, reason));
        (int status, JsonElement body) = await ChatHttp.PostAsync(plain, Request(",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
        Assert.Equal(400, status);
        Assert.Equal("tools", body.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("tools cannot be offered to this model: the model has no chat template, so nothing shows it how to call a tool",
            body.GetProperty("error").GetProperty("message").GetString());
    }

    private static string Request(string fields) =>
        "{\"model\":\"stories260K\",\"max_tokens\":8,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}]" + fields + "}";

    private static string Without(JsonNode node, string field)
    {
        JsonObject copy = node.DeepClone().AsObject();
        copy.Remove(field);
        return copy.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}
