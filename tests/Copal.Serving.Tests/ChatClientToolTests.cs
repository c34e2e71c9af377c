using System.Text.Json;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary><see cref="CopalChatClient"/>'s tool calling: function declarations, calls and results rendered as the reference renders them, calls read from replies.</summary>
public sealed class ChatClientToolTests : IDisposable
{
    private readonly Stories260KEngine _stories = new();
    private readonly CopalChatClient _client;

    public ChatClientToolTests() => _client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("qwen2.5-tools"));

    public void Dispose() => _stories.Dispose();

    [Fact]
    public void Functions_calls_and_results_render_as_the_reference_renders_the_same_conversation()
    {
        var tools = TemplateGoldens.Conversations().GetProperty("tools").GetProperty("weather").EnumerateArray().Select(t => (AITool)AIFunctionFactory.CreateDeclaration(
            t.GetProperty("function").GetProperty("name").GetString()!, t.GetProperty("function").GetProperty("description").GetString(),
            t.GetProperty("function").GetProperty("parameters").Clone())).ToList();
        ChatMessage[] messages =
        [
            new(ChatRole.User, "What's the weather in Paris?"),
            new(ChatRole.Assistant, [new TextContent(""), new FunctionCallContent("call_1", "get_current_weather", new Dictionary<string, object?> { ["location"] = "Paris, France", ["unit"] = "celsius" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "{\"temperature\": 18, \"condition\": \"cloudy\"}")]),
            new(ChatRole.Assistant, "It is 18 °C and cloudy in Paris."),
            new(ChatRole.User, "Thanks!"),
        ];
        Assert.Equal(TemplateGoldens.Rendered("qwen2.5-tools", "tool-call-roundtrip"), _client.ToRequest(messages, new ChatOptions { Tools = tools }).Prompt);
        // ToolMode None: the model is not shown the tools.
        Assert.DoesNotContain("get_current_weather\", \"description", _client.ToRequest(messages, new ChatOptions { Tools = tools, ToolMode = ChatToolMode.None }).Prompt, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replys_calls_come_back_as_function_calls_after_its_text_whole_or_streamed()
    {
        const string Reply = "Checking.<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>";
        List<AIContent> whole = [new TextContent(Reply)];
        Assert.True(CopalChatClient.ReadCalls(whole, new ToolCallSplitter(ToolCallFormat.Hermes, ["get_time"]), final: true, parallel: true));
        Assert.Equal("Checking.", Assert.IsType<TextContent>(whole[0]).Text);
        FunctionCallContent call = Assert.IsType<FunctionCallContent>(whole[1]);
        Assert.Equal("get_time", call.Name);
        Assert.Matches("^call_[0-9a-f]{24}$", call.CallId);
        Assert.Equal("CET", ((JsonElement)call.Arguments!["tz"]!).GetString());

        var splitter = new ToolCallSplitter(ToolCallFormat.Hermes, ["get_time"]);
        var streamed = new List<AIContent>();
        for (int at = 0; at < Reply.Length; at += 4)
        {
            List<AIContent> update = [new TextContent(Reply[at..Math.Min(Reply.Length, at + 4)])];
            CopalChatClient.ReadCalls(update, splitter, final: at + 4 >= Reply.Length, parallel: true);
            streamed.AddRange(update);
        }
        Assert.Equal("Checking.", string.Concat(streamed.OfType<TextContent>().Select(t => t.Text)));
        Assert.Equal("get_time", Assert.Single(streamed.OfType<FunctionCallContent>()).Name);
    }

    /// <summary>
    /// A Qwen3-Coder model (its format read from its template): calls in the conversation render as its parameters, and
    /// a reply's calls come back with their values typed by the function's schema, whole or streamed.
    /// </summary>
    [Fact]
    public void A_qwen3_coder_models_calls_render_as_parameters_and_come_back_typed_by_the_functions_schema()
    {
        var client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("qwen3-coder-macro"));
        AITool weather = AIFunctionFactory.CreateDeclaration("get_weather", "The weather", JsonDocument.Parse(
            "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}}}").RootElement);
        var options = new ChatOptions { Tools = [weather] };
        ChatMessage[] messages =
        [
            new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris", ["days"] = 3 })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "sunny")]),
        ];
        string prompt = client.ToRequest(messages, options).Prompt!;
        Assert.Contains("<name>days</name>\n<type>integer</type>", prompt, StringComparison.Ordinal);
        Assert.EndsWith("<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
            + "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<|im_end|>\n<|im_start|>assistant\n",
            prompt, StringComparison.Ordinal);

        const string Reply = "Let me look.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
        foreach (int size in new[] { Reply.Length, 3 })
        {
            ToolCallSplitter splitter = client.Tools(options)!.Splitter();
            var contents = new List<AIContent>();
            for (int at = 0; at < Reply.Length; at += size)
            {
                List<AIContent> update = [new TextContent(Reply[at..Math.Min(Reply.Length, at + size)])];
                CopalChatClient.ReadCalls(update, splitter, final: at + size >= Reply.Length, parallel: true);
                contents.AddRange(update);
            }
            Assert.Equal("Let me look.\n", string.Concat(contents.OfType<TextContent>().Select(t => t.Text)));
            FunctionCallContent call = Assert.Single(contents.OfType<FunctionCallContent>());
            Assert.Equal("get_weather", call.Name);
            Assert.Equal("Paris", ((JsonElement)call.Arguments!["city"]!).GetString());
            Assert.Equal(3, ((JsonElement)call.Arguments!["days"]!).GetInt32());
        }
    }

    /// <summary>
    /// A call's .NET arguments reach the template as the same call sent over HTTP reaches vLLM (json.loads of the
    /// arguments): a whole double or decimal stays a float (1.0, not 1), a float the number its JSON text holds (0.1f is 0.1), and
    /// none, booleans and nested values print as Python prints them. System.Text.Json writes a double 1.0 as 1, which
    /// made it an integer. The expected text is Jinja2 3.1.6's render of this conversation with the arguments given as
    /// JSON (tools/chat-templates/python-check.py's environment).
    /// </summary>
    [Fact]
    public void A_calls_dotnet_float_arguments_render_as_python_renders_them_from_json()
    {
        var client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("qwen3-coder-macro"));
        var arguments = new Dictionary<string, object?>
        {
            ["scale"] = 1.0,
            ["ratio"] = 0.1f,
            ["price"] = 2m,
            ["days"] = 3,
            ["exact"] = true,
            ["cursor"] = null,
            ["filter"] = new Dictionary<string, object?> { ["min"] = 0.0, ["tags"] = new List<object?> { 1.5, -0.0, 1e16 } },
        };
        ChatMessage[] messages = [new(ChatRole.User, "Weather?"), new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", arguments)])];
        string prompt = client.ToRequest(messages, null).Prompt!;
        Assert.Equal("<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n<function=get_weather>\n<parameter=scale>\n1.0\n</parameter>\n<parameter=ratio>\n0.1\n</parameter>\n"
            + "<parameter=price>\n2.0\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=exact>\nTrue\n</parameter>\n<parameter=cursor>\nNone\n</parameter>\n"
            + "<parameter=filter>\n{'min': 0.0, 'tags': [1.5, -0.0, 1e+16]}\n</parameter>\n</function>\n</tool_call><|im_end|>\n<|im_start|>assistant\n",
            prompt);
    }

    /// <summary>
    /// A call's arguments given as JSON nodes (a <see cref="System.Text.Json.Nodes.JsonValue"/> made from a double, alone
    /// or inside a JsonObject or JsonArray) render as the same .NET doubles do: 18.0, not 18. System.Text.Json writes a
    /// JsonValue's double with its own converter whatever the options hold, so these were integers to the template.
    /// </summary>
    [Fact]
    public void A_calls_json_node_float_arguments_render_as_dotnet_doubles_do()
    {
        var client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("qwen3-coder-macro"));
        var arguments = new Dictionary<string, object?>
        {
            ["scale"] = System.Text.Json.Nodes.JsonValue.Create(18.0),
            ["filter"] = new System.Text.Json.Nodes.JsonObject { ["min"] = 0.0, ["tags"] = new System.Text.Json.Nodes.JsonArray(1.5, 2.0, 3) },
        };
        ChatMessage[] messages = [new(ChatRole.User, "Weather?"), new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", arguments)])];
        string prompt = client.ToRequest(messages, null).Prompt!;
        Assert.Contains("<parameter=scale>\n18.0\n</parameter>\n<parameter=filter>\n{'min': 0.0, 'tags': [1.5, 2.0, 3]}\n</parameter>", prompt, StringComparison.Ordinal);
    }

    /// <summary>A call's NaN argument is refused naming the value, not as System.Text.Json's advice about its JsonNumberHandling option.</summary>
    [Fact]
    public void A_calls_nan_argument_is_refused_naming_it()
    {
        ChatMessage[] messages = [new(ChatRole.User, "Weather?"), new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["scale"] = double.NaN })])];
        var e = Assert.Throws<ArgumentException>(() => _client.ToRequest(messages, null));
        Assert.Equal("a function call's arguments hold NaN, which JSON cannot hold (its numbers are finite)", e.Message);
    }

    /// <summary>JSON lets a key repeat; a model may write one twice, and the call still comes back (the last value, as a deserializer reads it), never an exception.</summary>
    [Fact]
    public void A_call_whose_arguments_repeat_a_key_comes_back_with_its_last_value()
    {
        List<AIContent> contents = [new TextContent("<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\", \"tz\": \"UTC\"}}</tool_call>")];
        Assert.True(CopalChatClient.ReadCalls(contents, new ToolCallSplitter(ToolCallFormat.Hermes, ["get_time"]), final: true, parallel: true));
        FunctionCallContent call = Assert.IsType<FunctionCallContent>(Assert.Single(contents));
        Assert.Equal("UTC", ((JsonElement)Assert.Single(call.Arguments!).Value!).GetString());
    }

    /// <summary>
    /// A reply's calls all come back unless ChatOptions.AllowMultipleToolCalls is false, as OpenAI's parallel_tool_calls
    /// defaults to true; then only the first does.
    /// </summary>
    [Theory]
    [InlineData(null, 2)]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public void A_replys_calls_all_come_back_unless_multiple_calls_are_not_allowed(bool? allow, int count)
    {
        JsonElement none = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{}}").RootElement;
        var options = new ChatOptions
        {
            Tools = [AIFunctionFactory.CreateDeclaration("get_time", "The time now", none), AIFunctionFactory.CreateDeclaration("get_date", "The date", none)],
            AllowMultipleToolCalls = allow,
        };
        OfferedTools tools = _client.Tools(options)!;
        List<AIContent> contents = [new TextContent("<tool_call>{\"name\": \"get_time\"}</tool_call>\n<tool_call>{\"name\": \"get_date\"}</tool_call>")];
        Assert.True(CopalChatClient.ReadCalls(contents, tools.Splitter(), final: true, tools.Parallel));
        Assert.Equal(new[] { "get_time", "get_date" }.Take(count), contents.OfType<FunctionCallContent>().Select(c => c.Name));
    }

    /// <summary>
    /// A function declared without a description (M.E.AI's default is empty text) is shown to the model without one,
    /// as serve shows a request's tool that has none, not with "description": "".
    /// </summary>
    [Fact]
    public void A_function_without_a_description_is_shown_without_one()
    {
        AITool time = AIFunctionFactory.CreateDeclaration("get_time", null, JsonDocument.Parse("{\"type\":\"object\",\"properties\":{}}").RootElement);
        Assert.Equal("", time.Description);
        string prompt = _client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time] }).Prompt!;
        Assert.Contains("{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}}", prompt, StringComparison.Ordinal);
    }

    /// <summary>
    /// An assistant message that only calls functions reaches the template with no content (none, as OpenAI's clients
    /// send null), not empty text: DeepSeek-V3's template writes the calls only then. A result given as a JSON string
    /// is its text, as a plain string is. The call's arguments are written as JSON, which the template adds to a string.
    /// </summary>
    /// <summary>
    /// DeepSeek R1's template adds a call's arguments to a string: the text is Python's
    /// <c>json.dumps(arguments, ensure_ascii=False)</c> of them (the expected text here is its output), the text of the
    /// model's own call, whatever the values: nested, whole floats, booleans, none, text beyond ASCII, JSON elements.
    /// </summary>
    [Fact]
    public void A_calls_arguments_added_to_a_string_are_pythons_json_text_of_them()
    {
        var client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("deepseek-r1"));
        var arguments = new Dictionary<string, object?>
        {
            ["city"] = "東京 \"ü\"\n",
            ["n"] = 1.0,
            ["k"] = 3,
            ["ok"] = true,
            ["none"] = null,
            ["nested"] = new Dictionary<string, object?> { ["list"] = new object?[] { 2.5, "é", false } },
            ["raw"] = JsonDocument.Parse("""{"a": 1.0, "b": [1, 2]}""").RootElement,
        };
        ChatMessage[] messages =
        [
            new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_3", "get_weather", arguments)]),
            new(ChatRole.Tool, [new FunctionResultContent("call_3", "sunny")]),
        ];
        string prompt = client.ToRequest(messages, null).Prompt!;
        Assert.Contains(
            "get_weather\n```json\n{\"city\": \"東京 \\\"ü\\\"\\n\", \"n\": 1.0, \"k\": 3, \"ok\": true, \"none\": null, \"nested\": {\"list\": [2.5, \"é\", false]}, \"raw\": {\"a\": 1.0, \"b\": [1, 2]}}\n```",
            prompt, StringComparison.Ordinal);
    }

    [Fact]
    public void An_assistant_message_of_calls_alone_has_no_content_and_a_json_string_result_is_its_text()
    {
        var client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("deepseek-v3"));
        ChatMessage[] messages =
        [
            new(ChatRole.User, "Time in Tokyo?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_2", "get_time", new Dictionary<string, object?> { ["tz"] = "Asia/Tokyo" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_2", "21:05")]),
        ];
        string prompt = client.ToRequest(messages, null).Prompt!;
        Assert.Contains("<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n", prompt, StringComparison.Ordinal);
        // The template adds the arguments to a string, as OpenAI's JSON text: given them as a mapping (as transformers
        // and vLLM give templates arguments), Jinja2 refuses and the reference writes "[object Map]"; copal writes
        // their JSON, the text DeepSeek's calls hold, as llama.cpp gives such a template the arguments as text.
        Assert.Contains("get_time\n```json\n{\"tz\": \"Asia/Tokyo\"}\n```<｜tool▁call▁end｜>", prompt, StringComparison.Ordinal);
        Assert.Contains("<｜tool▁output▁begin｜>21:05<｜tool▁output▁end｜>", prompt, StringComparison.Ordinal);
        ChatMessage[] jsonResult = [messages[0], messages[1], new(ChatRole.Tool, [new FunctionResultContent("call_2", JsonSerializer.SerializeToElement("21:05"))])];
        Assert.Equal(prompt, client.ToRequest(jsonResult, null).Prompt);
    }

    /// <summary>RequireSpecific and RequireAny are made by structured outputs: stories260K answers a call, whole or streamed.</summary>
    [Fact]
    public async Task A_required_call_comes_back_as_a_function_call_whole_or_streamed()
    {
        var client = new CopalChatClient(_stories.Engine, new TemplateChatFormatter(new ChatTemplate(
            "{% for t in tools %}{{ t.function.name }} {% endfor %}{% for m in messages %}{{ m.role }}: {{ m.content }}{{ '\\n' }}{% endfor %}assistant:")));
        const string Parameters = "{\"type\":\"object\",\"properties\":{\"tz\":{\"enum\":[\"CET\",\"UTC\"]}},\"required\":[\"tz\"],\"additionalProperties\":false}";
        AITool time = AIFunctionFactory.CreateDeclaration("get_time", "The time now", JsonDocument.Parse(Parameters).RootElement);
        var options = new ChatOptions { Tools = [time], ToolMode = ChatToolMode.RequireSpecific("get_time"), MaxOutputTokens = 120 };
        ChatResponse reply = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Time?")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, reply.FinishReason);
        FunctionCallContent call = Assert.IsType<FunctionCallContent>(Assert.Single(reply.Messages.Single().Contents));
        Assert.Equal("get_time", call.Name);
        Assert.Contains(((JsonElement)call.Arguments!["tz"]!).GetString(), new[] { "CET", "UTC" });

        var streamed = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Time?")], new ChatOptions { Tools = [time], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 120 }))
        {
            streamed.Add(update);
        }
        Assert.Equal("get_time", Assert.Single(streamed.SelectMany(u => u.Contents).OfType<FunctionCallContent>()).Name);
        Assert.Equal(ChatFinishReason.ToolCalls, streamed.ToChatResponse().FinishReason);
    }

    /// <summary>
    /// A .NET method as a tool, its parameters as M.E.AI describes them (a DateTime as format date-time, a Guid as
    /// uuid, a bounded int): a call forced among it and another comes back with arguments the method binds and runs on.
    /// </summary>
    [Fact]
    public async Task A_forced_call_to_a_dotnet_method_binds_its_typed_arguments_and_runs()
    {
        var client = new CopalChatClient(_stories.Engine, new TemplateChatFormatter(new ChatTemplate(
            "{% for t in tools %}{{ t.function.name }} {% endfor %}{% for m in messages %}{{ m.role }}: {{ m.content }}{{ '\\n' }}{% endfor %}assistant:")));
        var booked = new List<string>();
        // Strict, as for OpenAI's strict functions: no further keys, every parameter required.
        static AIFunctionFactoryOptions Strict(string name) => new()
        {
            Name = name,
            JsonSchemaCreateOptions = new AIJsonSchemaCreateOptions
            {
                TransformOptions = new AIJsonSchemaTransformOptions { DisallowAdditionalProperties = true, RequireAllProperties = true },
            },
        };
        AIFunction book = AIFunctionFactory.Create(
            (DateTime at, Guid room, [System.ComponentModel.DataAnnotations.Range(1, 8)] int people) => booked.Add(FormattableString.Invariant($"{at:O} {room} {people}")),
            Strict("book"));
        var cancelled = new List<Guid>();
        AIFunction cancel = AIFunctionFactory.Create((Guid booking) => cancelled.Add(booking), Strict("cancel"));
        Dictionary<int, float> bias = Enumerable.Range(0, _stories.Engine.Tokenizer.VocabSize)
            .Where(id => _stories.Engine.Tokenizer.HasToken(id) && !_stories.Engine.Tokenizer.IsSpecial(id) && _stories.Engine.Tokenizer.TokenBytes(id) is { Length: > 0 } bytes && bytes.All(b => b is (byte)' ' or (byte)'\n'))
            .ToDictionary(id => id, _ => -100f);
        for (long seed = 1; seed <= 6; seed++)
        {
            ChatResponse reply = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Book a room")], new ChatOptions
            {
                Tools = [book, cancel],
                ToolMode = ChatToolMode.RequireAny,
                MaxOutputTokens = 300,
                Temperature = 1,
                Seed = seed,
                AdditionalProperties = new() { ["logit_bias"] = bias },
            });
            Assert.True(ChatFinishReason.ToolCalls == reply.FinishReason, reply.Text);
            FunctionCallContent call = Assert.IsType<FunctionCallContent>(Assert.Single(reply.Messages.Single().Contents));
            AIFunction function = call.Name == "book" ? book : cancel;
            await function.InvokeAsync(new AIFunctionArguments(call.Arguments));
        }
        Assert.True(booked.Count > 0 && cancelled.Count > 0, $"booked {booked.Count}, cancelled {cancelled.Count}"); // both ran on bound arguments
    }

    /// <summary>A forced call's schema is the function's parameters: a keyword outside the subset names the tools, not a response format the caller never gave.</summary>
    [Fact]
    public void Parameters_a_forced_call_cannot_be_held_to_are_named_as_the_tools()
    {
        AITool when = AIFunctionFactory.CreateDeclaration("remind", "Sets a reminder",
            JsonDocument.Parse("{\"type\":\"object\",\"properties\":{\"at\":{\"type\":\"string\",\"format\":\"idn-email\"}}}").RootElement);
        var e = Assert.Throws<CompletionRequestException>(() => _client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [when], ToolMode = ChatToolMode.RequireAny }));
        Assert.Equal("tools", e.Parameter);
        Assert.StartsWith("ChatOptions.ToolMode forces a call, and the parameters of 'remind' cannot be held to: json_schema: 'format' at #/properties/at", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reply_without_calls_is_text_and_what_cannot_be_offered_is_refused()
    {
        AITool time = AIFunctionFactory.CreateDeclaration("get_time", "The time now", JsonDocument.Parse("{\"type\":\"object\",\"properties\":{}}").RootElement);
        ChatResponse reply = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time], MaxOutputTokens = 6 });
        Assert.Equal(ChatFinishReason.Length, reply.FinishReason);
        Assert.Empty(reply.Messages.Single().Contents.OfType<FunctionCallContent>());
        Assert.NotEmpty(reply.Text);

        NotSupportedException e = Assert.Throws<NotSupportedException>(() => new CopalChatClient(_stories.Engine).ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time] }));
        // A ToolCallFormat alone would not do: the plain formatter then refuses the tools, as nothing shows them to the model.
        Assert.Equal("ChatOptions.Tools cannot be offered to this model: the model has no chat template, so nothing shows it how to call a tool; "
            + "give the client a formatter that shows the model tools (a TemplateChatFormatter of a chat template that does) and the ToolCallFormat its replies use", e.Message);
        e = Assert.Throws<NotSupportedException>(() => new CopalChatClient(_stories.Engine, toolCallFormat: ToolCallFormat.Hermes).ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time] }));
        Assert.Equal("the model has no chat template, so nothing shows it the tools or how to call them", e.Message);
        ArgumentException unknown = Assert.Throws<ArgumentException>(() => _client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time], ToolMode = ChatToolMode.RequireSpecific("get_date") }));
        Assert.StartsWith("ChatOptions.ToolMode RequireSpecific('get_date') names a function ChatOptions.Tools does not offer (it offers get_time)", unknown.Message, StringComparison.Ordinal);
        e = Assert.Throws<NotSupportedException>(() => _client.ToRequest([new ChatMessage(ChatRole.User, "Once")],
            new ChatOptions { Tools = [time], ToolMode = ChatToolMode.RequireAny, ResponseFormat = ChatResponseFormat.Json }));
        Assert.StartsWith("ChatOptions.ToolMode forces a call", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => _client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [time, time] }));
    }

    /// <summary>
    /// A function's name is held to OpenAI's rule, as the server holds a request's: "get time" (a space), "get_time\n"
    /// and 65 characters were offered to the model, where serve answers 400 for them.
    /// </summary>
    [Theory]
    [InlineData("get time")]
    [InlineData("get_time\n")]
    [InlineData("Über")]
    [InlineData("")]
    public void A_function_name_outside_openais_rule_is_refused_as_the_server_refuses_it(string name)
    {
        var schema = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{}}").RootElement;
        string[] names = name == "" ? [new string('f', 65)] : [name];
        foreach (string n in names)
        {
            AITool tool = AIFunctionFactory.CreateDeclaration(n, "The time now", schema);
            ArgumentException e = Assert.Throws<ArgumentException>(() => _client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [tool] }));
            Assert.StartsWith($"ChatOptions.Tools[0]: the function's name must be 1 to 64 letters, digits, underscores or dashes (OpenAI's rule, which copal serve holds requests to), got '{n}'", e.Message, StringComparison.Ordinal);
        }
        AITool longest = AIFunctionFactory.CreateDeclaration(new string('f', 64), "The time now", schema);
        Assert.NotNull(_client.ToRequest([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { Tools = [longest] }));
    }
}
