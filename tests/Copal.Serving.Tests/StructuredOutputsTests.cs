using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// OpenAI's structured outputs, <c>"response_format": {"type": "json_schema", …}</c>, end to end on stories260K: through
/// the engine, the chat client and both endpoints of the server the reply is a JSON object the reference validator
/// (JsonSchema.Net) finds valid under the schema, and it ends with finish_reason stop; a schema copal cannot hold a
/// reply to is a 400 naming response_format, the keyword and its place.
/// </summary>
public sealed class StructuredOutputsTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Model = "stories260K";

    // Every value bounded (strings by maxLength, numbers by enum, arrays by maxItems), so a reply must close within
    // max_tokens whatever the model likes to write.
    internal const string Schema = """
        {"type":"object","properties":{
           "name":{"type":"string","maxLength":8,"description":"the hero"},
           "mood":{"enum":["happy","sad",3]},
           "friends":{"type":"array","items":{"type":"string","maxLength":5},"maxItems":2},
           "pet":{"anyOf":[{"$ref":"#/$defs/pet"},{"type":"null"}]},
           "tall":{"type":"boolean"}},
         "required":["name","mood","friends","pet","tall"],"additionalProperties":false,
         "$defs":{"pet":{"type":"object","properties":{"kind":{"enum":["cat","dog"]}},"required":["kind"],"additionalProperties":false}}}
        """;

    // stories260K, its likeliest tokens masked, fills every run of whitespace to JSON mode's caps and runs out of
    // max_tokens: the tests ban the tokens that are whitespace alone (-100, OpenAI's ban), so the reply is compact.
    private Dictionary<int, float> NoWhitespace()
    {
        var bias = new Dictionary<int, float>();
        for (int id = 0; id < server.Tokenizer.VocabSize; id++)
        {
            if (server.Tokenizer.HasToken(id) && !server.Tokenizer.IsSpecial(id) && server.Tokenizer.TokenBytes(id) is { Length: > 0 } bytes
                && bytes.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\t' or (byte)'\r'))
            {
                bias[id] = -100;
            }
        }
        return bias;
    }

    private static JsonElement SchemaElement() => JsonDocument.Parse(Schema).RootElement.Clone();

    internal static void AssertValid(string text)
    {
        Json.Schema.JsonSchema reference = Json.Schema.JsonSchema.FromText(Schema);
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.True(reference.Evaluate(doc.RootElement).IsValid, $"not valid under the schema: {text}");
    }

    [Theory]
    [InlineData(0f, 1UL)]
    [InlineData(1f, 1UL)]
    [InlineData(1f, 2UL)]
    [InlineData(1.5f, 3UL)]
    public async Task The_engine_writes_a_valid_object_and_stops(float temperature, ulong seed)
    {
        CompletionResult result = await server.Engine.CompleteAsync(new CompletionRequest
        {
            Prompt = "Once upon a time",
            MaxTokens = 400,
            Temperature = temperature,
            Seed = seed,
            ResponseFormat = ResponseFormat.JsonSchema,
            JsonSchema = SchemaElement(),
            LogitBias = NoWhitespace(),
        });
        Assert.True(FinishReason.Stop == result.FinishReason, result.Text);
        AssertValid(result.Text);
    }

    [Fact]
    public async Task The_chat_client_takes_a_schema_and_the_engine_refuses_one_it_cannot_hold_to()
    {
        IChatClient client = new CopalChatClient(server.Engine);
        ChatMessage[] chat = [new ChatMessage(ChatRole.User, "Tell me about a hero as JSON")];
        ChatResponse response = await client.GetResponseAsync(chat, new ChatOptions
        {
            MaxOutputTokens = 400,
            ResponseFormat = ChatResponseFormat.ForJsonSchema(SchemaElement(), "hero"),
            AdditionalProperties = new() { ["logit_bias"] = NoWhitespace() },
        });
        AssertValid(response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        CompletionRequestException e = await Assert.ThrowsAsync<CompletionRequestException>(() => client.GetResponseAsync(chat, new ChatOptions
        {
            ResponseFormat = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse("""{"type":"object","properties":{"d":{"type":"string","format":"idn-email"}},"additionalProperties":false}""").RootElement, "mail"),
        }));
        Assert.Equal("response_format", e.Parameter);
        Assert.Contains("'format' at #/properties/d", e.Message, StringComparison.Ordinal);
    }

    [JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
    [JsonDerivedType(typeof(Circle), "circle")]
    [JsonDerivedType(typeof(Square), "square")]
    public abstract class Shape;

    public sealed class Circle : Shape
    {
        public bool Filled { get; set; }
    }

    public sealed class Square : Shape
    {
        public bool Rotated { get; set; }
    }

    public sealed class Drawing
    {
        public Shape Main { get; set; } = null!;

        public Shape? Spare { get; set; }

        public Shape[] Others { get; set; } = [];
    }

    [Fact]
    public async Task The_chat_client_writes_a_polymorphic_type_from_dotnets_own_schema_and_it_deserializes()
    {
        // The schema System.Text.Json exports (strict, as for OpenAI's structured outputs), a polymorphic type as a type
        // and the discriminator's required beside an anyOf; the reply writes the discriminator first, as deserializing needs.
        JsonElement schema = StrictSchemaOf(typeof(Drawing));
        var kinds = new HashSet<Type>();
        for (long seed = 1; seed <= 6; seed++)
        {
            Dictionary<int, float> bias = NoWhitespace();
            bias[Enumerable.Range(0, server.Tokenizer.VocabSize).First(id => server.Tokenizer.Decode([id]) == "]")] = 3; // ends the lists
            ChatResponse response = await AskAsync("Draw shapes as JSON", schema, "drawing", seed, bias);
            Assert.True(ChatFinishReason.Stop == response.FinishReason, response.Text);
            Drawing drawing = JsonSerializer.Deserialize<Drawing>(response.Text, AIJsonUtilities.DefaultOptions)!;
            Assert.NotNull(drawing.Main);
            kinds.Add(drawing.Main.GetType());
            kinds.UnionWith(drawing.Others.Select(o => o.GetType()));
        }
        Assert.Equal(2, kinds.Count); // both branches were written
    }

    // The schema System.Text.Json exports for a type, strict as OpenAI's structured outputs want it.
    private static JsonElement StrictSchemaOf(Type type) => AIJsonUtilities.CreateJsonSchema(type, inferenceOptions: new AIJsonSchemaCreateOptions
    {
        TransformOptions = new AIJsonSchemaTransformOptions { DisallowAdditionalProperties = true, RequireAllProperties = true },
    });

    // One sampled reply of the chat client under the schema.
    private Task<ChatResponse> AskAsync(string prompt, JsonElement schema, string name, long seed, Dictionary<int, float> bias) =>
        new CopalChatClient(server.Engine).GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], new ChatOptions
        {
            MaxOutputTokens = 400,
            Temperature = 1,
            Seed = seed,
            ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, name),
            AdditionalProperties = new() { ["logit_bias"] = bias },
        });

    public sealed record Appointment(DateTime At, DateTimeOffset? Until, DateOnly Day, Guid Id);

    [Fact]
    public async Task The_chat_client_writes_dates_times_and_guids_that_dotnet_reads_back()
    {
        // System.Text.Json exports DateTime and DateTimeOffset as format date-time, DateOnly as date, Guid as uuid.
        JsonElement schema = StrictSchemaOf(typeof(Appointment));
        for (long seed = 1; seed <= 3; seed++)
        {
            ChatResponse response = await AskAsync("Book it as JSON", schema, "appointment", seed, NoWhitespace());
            Assert.True(ChatFinishReason.Stop == response.FinishReason, response.Text);
            Appointment appointment = JsonSerializer.Deserialize<Appointment>(response.Text, AIJsonUtilities.DefaultOptions)!;
            Assert.NotEqual(default, appointment.Day);
        }
    }

    public sealed record Release(Version Number, TimeSpan Took, Uri Link);

    [Fact]
    public async Task The_chat_client_writes_versions_time_spans_and_uris_to_the_patterns_and_format_dotnet_exports()
    {
        // System.Text.Json exports Version and TimeSpan as strings with a pattern (^\d+(\.\d+){1,3}$ and
        // ^-?(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d{1,7})?$), Uri with format uri: each reply's values match them, in .NET's
        // reading and the reference's (format validation on).
        JsonElement schema = StrictSchemaOf(typeof(Release));
        Json.Schema.JsonSchema reference = Json.Schema.JsonSchema.FromText(schema.GetRawText());
        for (long seed = 1; seed <= 3; seed++)
        {
            ChatResponse response = await AskAsync("The release as JSON", schema, "release", seed, NoWhitespace());
            Assert.True(ChatFinishReason.Stop == response.FinishReason, response.Text);
            using JsonDocument reply = JsonDocument.Parse(response.Text);
            Assert.True(reference.Evaluate(reply.RootElement, new Json.Schema.EvaluationOptions { RequireFormatValidation = true }).IsValid, response.Text);
            Assert.True(Uri.TryCreate(reply.RootElement.GetProperty("link").GetString(), UriKind.Absolute, out _), response.Text);
            foreach (string property in (string[])["number", "took"])
            {
                string pattern = schema.GetProperty("properties").GetProperty(property).GetProperty("pattern").GetString()!;
                Assert.Matches(new System.Text.RegularExpressions.Regex(pattern), reply.RootElement.GetProperty(property).GetString()!);
            }
        }
    }

    private object Body(bool chat, bool stream, object format)
    {
        Dictionary<string, float> bias = NoWhitespace().ToDictionary(p => $"{p.Key}", p => p.Value);
        return chat
            ? new { model = Model, messages = new[] { new { role = "user", content = "A hero as JSON" } }, max_tokens = 400, temperature = 1, seed = 5, stream, response_format = format, logit_bias = bias }
            : new { model = Model, prompt = "Once upon a time", max_tokens = 400, temperature = 1, seed = 5, stream, response_format = format, logit_bias = bias };
    }

    [Fact]
    public async Task A_vocabulary_that_cannot_write_the_schema_ends_the_reply_with_an_error_naming_json_schema()
    {
        // Only <unk>, <s> and </s> may be chosen: none writes a '{'.
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(Copal.Testing.TestData.Stories260K, backend, new EngineOptions { DecodableTokens = 3 });
        CompletionRequestException e = await Assert.ThrowsAsync<CompletionRequestException>(() =>
            engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 5, ResponseFormat = ResponseFormat.JsonSchema, JsonSchema = SchemaElement() }));
        Assert.Equal("response_format", e.Parameter);
        Assert.StartsWith("response_format json_schema cannot go on: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("after 0 bytes", e.Message, StringComparison.Ordinal);
        // A schema without the format, or the format without a schema, is a mistake of the caller's.
        e = await Assert.ThrowsAsync<CompletionRequestException>(() =>
            engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 5, ResponseFormat = ResponseFormat.JsonSchema }));
        Assert.Equal("response_format", e.Parameter);
        e = await Assert.ThrowsAsync<CompletionRequestException>(() =>
            engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 5, JsonSchema = SchemaElement() }));
        Assert.Equal("response_format", e.Parameter);
    }

    private static object Format(JsonElement schema) => new { type = "json_schema", json_schema = new { name = "hero", strict = true, schema } };

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public async Task Both_endpoints_answer_a_valid_object_with_finish_reason_stop(bool chat, bool stream)
    {
        string path = chat ? "/v1/chat/completions" : "/v1/completions";
        var text = new StringBuilder();
        string? finish = null;
        if (stream)
        {
            foreach (JsonElement chunk in await server.StreamEventsAsync(path, Body(chat, true, Format(SchemaElement()))))
            {
                JsonElement choice = chunk.GetProperty("choices")[0];
                text.Append(chat ? (choice.GetProperty("delta").TryGetProperty("content", out JsonElement c) ? c.GetString() : "") : choice.GetProperty("text").GetString());
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    finish = choice.GetProperty("finish_reason").GetString();
                }
            }
        }
        else
        {
            JsonElement choice = (await server.PostOkAsync(path, Body(chat, false, Format(SchemaElement())))).GetProperty("choices")[0];
            text.Append(chat ? choice.GetProperty("message").GetProperty("content").GetString() : choice.GetProperty("text").GetString());
            finish = choice.GetProperty("finish_reason").GetString();
        }
        Assert.Equal("stop", finish);
        AssertValid(text.ToString());
    }

    [Fact]
    public async Task Every_choice_of_every_prompt_is_held_to_the_schema()
    {
        Dictionary<string, float> bias = NoWhitespace().ToDictionary(p => $"{p.Key}", p => p.Value);
        JsonElement reply = await server.PostOkAsync("/v1/completions", new
        {
            model = Model, prompt = new[] { "Once upon a time", "The cat" }, max_tokens = 400, temperature = 1, seed = 9, n = 2,
            response_format = Format(SchemaElement()), logit_bias = bias,
        });
        JsonElement[] choices = [.. reply.GetProperty("choices").EnumerateArray()];
        Assert.Equal(4, choices.Length);
        foreach (JsonElement choice in choices)
        {
            Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
            AssertValid(choice.GetProperty("text").GetString()!);
        }
    }

    [Fact]
    public async Task The_official_OpenAI_client_s_json_schema_format_is_taken()
    {
        OpenAI.Chat.ChatClient chat = server.Client().GetChatClient(Model);
        var options = new OpenAI.Chat.ChatCompletionOptions
        {
            MaxOutputTokenCount = 400,
            Temperature = 0,
            ResponseFormat = OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat("hero", BinaryData.FromString(Schema), "a hero", jsonSchemaIsStrict: true),
        };
        foreach ((int id, float bias) in NoWhitespace())
        {
            options.LogitBiases[id] = (int)bias;
        }
        OpenAI.Chat.ChatCompletion completion = (await chat.CompleteChatAsync([new OpenAI.Chat.UserChatMessage("A hero as JSON")], options)).Value;
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, completion.FinishReason);
        AssertValid(completion.Content[0].Text);
    }

    [Theory]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"n":{"type":"number","minimum":0.1234567}},"additionalProperties":false}}}""", "'minimum' at #/properties/n")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"n":{"type":"string","format":"idn-email"}}}}}""", "'format' at #/properties/n")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x"}}""", "json_schema.schema is required")]
    [InlineData("""{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}""", "json_schema.name")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","strict":"yes","schema":{"type":"object"}}}""", "json_schema.strict")]
    [InlineData("""{"type":"json_schema"}""", "json_schema must be an object")]
    // OpenAI's rule for the name (1 to 64 letters, digits, '_' or '-') and the description's type.
    [InlineData("""{"type":"json_schema","json_schema":{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","schema":{"type":"object"}}}""", "json_schema.name")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"a.b","schema":{"type":"object"}}}""", "json_schema.name")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","description":5,"schema":{"type":"object"}}}""", "json_schema.description")]
    public Task A_schema_copal_cannot_hold_a_reply_to_is_a_400_naming_response_format(string format, string expected) =>
        OnBothEndpointsRefusedAsync(format, error => Assert.Contains(expected, error.GetProperty("message").GetString(), StringComparison.Ordinal));

    /// <summary>
    /// A schema keyword copal does not implement is a field copal does not implement: OpenAI's unsupported_parameter, as
    /// every other refusal of something not implemented is, so a client can tell it from a malformed request (whose code is null).
    /// </summary>
    [Theory]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}}}""", "unsupported_parameter")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"s":{"type":"string","pattern":"(x)\\1"}}}}}""", "unsupported_parameter")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x y","schema":{"type":"object"}}}""", null)]
    public Task A_schema_keyword_outside_the_subset_is_an_unsupported_parameter(string format, string? code) =>
        OnBothEndpointsRefusedAsync(format, error => Assert.Equal(code, error.GetProperty("code").GetString()));

    /// <summary>The longest name OpenAI takes, of every kind of character it allows, with a description: accepted.</summary>
    [Fact]
    public async Task A_schema_named_with_64_characters_and_described_is_taken()
    {
        JsonElement format = JsonDocument.Parse("""{"type":"json_schema","json_schema":{"name":"A-_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","description":"a hero","strict":true,"schema":{"type":"object"}}}""").RootElement;
        (int status, string body) = await server.PostAsync("/v1/completions", new { model = Model, prompt = "Hi", max_tokens = 4, response_format = format });
        Assert.True(status == 200, body);
    }

    /// <summary>response_format {"type": "text"} is as absent: the same greedy text as a request without it, not JSON mode's.</summary>
    [Fact]
    public async Task A_text_response_format_gives_the_text_of_a_request_without_one()
    {
        JsonElement plain = await server.PostOkAsync("/v1/completions", new { model = Model, prompt = "Once upon a time", max_tokens = 12, temperature = 0 });
        JsonElement text = await server.PostOkAsync("/v1/completions", new { model = Model, prompt = "Once upon a time", max_tokens = 12, temperature = 0, response_format = new { type = "text" } });
        string expected = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.False(expected.TrimStart().StartsWith('{'), expected); // JSON mode's reply would open an object
        Assert.Equal(expected, text.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    // A request with the response_format, to the chat and the completions endpoint: each a 400 naming response_format,
    // whose error object `check` looks into.
    private async Task OnBothEndpointsRefusedAsync(string format, Action<JsonElement> check)
    {
        foreach (string path in (string[])["/v1/chat/completions", "/v1/completions"])
        {
            string input = path.Contains("chat") ? "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]" : "\"prompt\":\"Hi\"";
            (int status, string body) = await server.PostAsync(path, JsonDocument.Parse($"{{\"model\":\"{Model}\",{input},\"response_format\":{format}}}").RootElement);
            Assert.Equal(400, status);
            JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
            Assert.Equal("response_format", error.GetProperty("param").GetString());
            check(error);
        }
    }
}
