using Copal.Model.Chat;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary><see cref="CopalChatClient"/> in process: an <see cref="IChatClient"/> with no server.</summary>
public sealed class ChatClientTests
{
    [Fact]
    public async Task The_chat_client_answers_in_process_streaming_or_not_with_usage()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 2 });
        IChatClient client = new CopalChatClient(engine);
        string expected = Reference.Chat(engine.Model, engine.Tokenizer, [new ChatTurn("system", "Be kind."), new ChatTurn("user", "The little dog")], 20);

        ChatResponse response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "The little dog")],
            new ChatOptions { MaxOutputTokens = 20, Instructions = "Be kind." });
        Assert.Equal(expected, response.Text);
        Assert.Equal("stories260K", response.ModelId);
        Assert.NotNull(response.Usage);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.InRange(response.Usage.OutputTokenCount!.Value, 1, 20);
        Assert.Equal(0, response.Usage.CachedInputTokenCount); // shorter than a prefill chunk: nothing to reuse

        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "The little dog")],
            new ChatOptions { MaxOutputTokens = 20, Instructions = "Be kind." }))
        {
            updates.Add(u);
        }
        ChatResponse streamed = updates.ToChatResponse();
        Assert.Equal(expected, streamed.Text);
        Assert.True(updates.Count > 3, $"{updates.Count} updates: the reply was not streamed");
        Assert.Equal(response.Usage.OutputTokenCount, streamed.Usage?.OutputTokenCount);
        Assert.Equal(response.FinishReason, streamed.FinishReason);

        // The tokenizer and the engine are services of the client.
        Assert.Same(engine.Tokenizer, client.GetService<CopalTokenizer>());
        Assert.Same(engine, client.GetService<InferenceEngine>());
    }

    /// <summary>
    /// ChatOptions that the engine has map onto it (TopK, OpenAI's penalties; HF's repetition penalty and min_p through
    /// AdditionalProperties, as vLLM takes them); those it has no counterpart for are refused, never ignored.
    /// </summary>
    [Fact]
    public async Task Options_map_onto_the_engine_or_are_refused()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 });
        IChatClient client = new CopalChatClient(engine);
        ChatMessage[] chat = [new ChatMessage(ChatRole.User, "The little dog")];
        string greedy = (await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30 })).Text;
        string topOne = (await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, Temperature = 1f, Seed = 7, TopK = 1 })).Text;
        string sampled = (await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, Temperature = 1f, Seed = 7 })).Text;
        Assert.Equal(greedy, topOne);
        Assert.NotEqual(greedy, sampled);

        var penalized = new ChatOptions { MaxOutputTokens = 30, AdditionalProperties = new() { ["repetition_penalty"] = 1.5 } };
        Assert.Equal(1.5f, ((CopalChatClient)client).ToRequest(chat, penalized).RepetitionPenalty);
        var fromJson = new ChatOptions { AdditionalProperties = new() { ["repetition_penalty"] = System.Text.Json.JsonDocument.Parse("1.5").RootElement } };
        Assert.Equal(1.5f, ((CopalChatClient)client).ToRequest(chat, fromJson).RepetitionPenalty);
        Assert.NotEqual(greedy, (await client.GetResponseAsync(chat, penalized)).Text);

        var additive = new ChatOptions { MaxOutputTokens = 30, FrequencyPenalty = 1f, PresencePenalty = 0.5f, AdditionalProperties = new() { ["min_p"] = 0.25 } };
        CompletionRequest request = ((CopalChatClient)client).ToRequest(chat, additive);
        Assert.Equal((1f, 0.5f, 0.25f), (request.FrequencyPenalty, request.PresencePenalty, request.MinP));
        Assert.NotEqual(greedy, (await client.GetResponseAsync(chat, additive)).Text);
        // OpenAI's logit_bias, as a dictionary of ids or a JSON object of id strings (as read from JSON).
        int first = engine.Tokenizer.Encode(" " + greedy.TrimStart().Split(' ')[0], addSpecialTokens: false)[0];
        var banned = new ChatOptions { MaxOutputTokens = 30, AdditionalProperties = new() { ["logit_bias"] = new Dictionary<int, float> { [first] = -100 } } };
        var bannedJson = new ChatOptions { AdditionalProperties = new() { ["logit_bias"] = System.Text.Json.JsonDocument.Parse($"{{\"{first}\": -100}}").RootElement } };
        Assert.Equal(-100f, ((CopalChatClient)client).ToRequest(chat, bannedJson).LogitBias![first]);
        Assert.Equal(-100f, ((CopalChatClient)client).ToRequest(chat, banned).LogitBias![first]);
        Assert.Throws<CompletionRequestException>(() => ((CopalChatClient)client).ToRequest(chat, new ChatOptions { AdditionalProperties = new() { ["logit_bias"] = 5 } }));
        Assert.NotEqual(greedy, (await client.GetResponseAsync(chat, banned)).Text);
        // JSON mode, without a schema; with one, structured outputs (StructuredOutputsTests).
        ChatResponse json = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, ResponseFormat = ChatResponseFormat.Json });
        Assert.StartsWith("{", json.Text, StringComparison.Ordinal);
        Assert.NotEqual(greedy, json.Text);
        Assert.Equal(ResponseFormat.JsonObject, ((CopalChatClient)client).ToRequest(chat, new ChatOptions { ResponseFormat = ChatResponseFormat.Json }).ResponseFormat);
        CompletionRequest schema = ((CopalChatClient)client).ToRequest(chat, new ChatOptions
        {
            ResponseFormat = ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonDocument.Parse("{\"type\":\"object\"}").RootElement, "story"),
        });
        Assert.Equal(ResponseFormat.JsonSchema, schema.ResponseFormat);
        Assert.Equal("{\"type\":\"object\"}", schema.JsonSchema!.Value.GetRawText());
        // A call forced with no function to call is the caller's mistake.
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(chat, new ChatOptions { ToolMode = ChatToolMode.RequireAny }));
        await client.GetResponseAsync(chat, new ChatOptions { ToolMode = ChatToolMode.Auto, MaxOutputTokens = 2 });
        // Stateless: the history would be missing, and no background response was ever started.
        NotSupportedException e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(chat, new ChatOptions { ConversationId = "conv-1" }));
        Assert.StartsWith("ChatOptions.ConversationId 'conv-1'", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<NotSupportedException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync(chat, new ChatOptions { ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1 }) }))
            {
            }
        });
        Assert.StartsWith("ChatOptions.ContinuationToken", e.Message, StringComparison.Ordinal);
        // Permissions and hints the client may leave unused by their contract.
        Assert.Equal(greedy, (await client.GetResponseAsync(chat, new ChatOptions
        {
            MaxOutputTokens = 30,
            AllowBackgroundResponses = true,
            Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Low },
        })).Text);
        Assert.Equal(greedy, (await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, FrequencyPenalty = 0, ResponseFormat = ChatResponseFormat.Text })).Text);
    }

    /// <summary>
    /// What a message holds is refused, never ignored, when the model cannot take it, as the server refuses it with 400:
    /// non-text content (an image, a function call or result, reasoning), the tool role, an unknown role, and a model
    /// id other than the one served. Text, the system, developer, user and assistant roles and the served id are taken.
    /// </summary>
    /// <summary>
    /// A ChatOptions value out of range is refused naming the ChatOptions property the caller set (with the server's
    /// field beside it), from ToRequest as from the calls, before any work: a caller of IChatClient never wrote
    /// "max_tokens".
    /// </summary>
    [Theory]
    [InlineData("MaxOutputTokens", "max_tokens")]
    [InlineData("Temperature", "temperature")]
    [InlineData("TopP", "top_p")]
    [InlineData("TopK", "top_k")]
    [InlineData("FrequencyPenalty", "frequency_penalty")]
    [InlineData("StopSequences", "stop")]
    [InlineData("AdditionalProperties[\"min_p\"]", "min_p")]
    public async Task An_option_out_of_range_is_refused_naming_the_ChatOptions_property(string property, string field)
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        var client = new CopalChatClient(engine);
        ChatOptions options = property switch
        {
            "MaxOutputTokens" => new ChatOptions { MaxOutputTokens = -1 },
            "Temperature" => new ChatOptions { Temperature = float.NaN },
            "TopP" => new ChatOptions { TopP = 1.5f },
            "TopK" => new ChatOptions { TopK = -2 },
            "FrequencyPenalty" => new ChatOptions { FrequencyPenalty = float.PositiveInfinity },
            "StopSequences" => new ChatOptions { StopSequences = [""] },
            _ => new ChatOptions { AdditionalProperties = new() { ["min_p"] = 2.0 } },
        };
        ChatMessage[] chat = [new(ChatRole.User, "Once")];
        foreach (Func<Task> call in new Func<Task>[]
        {
            () => Task.FromResult(client.ToRequest(chat, options)),
            () => client.GetResponseAsync(chat, options),
            async () => { await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync(chat, options)) { } },
        })
        {
            CompletionRequestException e = await Assert.ThrowsAsync<CompletionRequestException>(call);
            Assert.StartsWith($"ChatOptions.{property}: {(field == "stop" ? "a stop text" : field)} must", e.Message, StringComparison.Ordinal);
            Assert.Equal(field, e.ParamName);
        }
        Assert.Equal(0, engine.Statistics.Started);
    }

    [Fact]
    public async Task Contents_roles_and_model_ids_the_engine_cannot_take_are_refused()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        var client = new CopalChatClient(engine);
        ChatMessage user = new(ChatRole.User, "The little dog");

        NotSupportedException e = Assert.Throws<NotSupportedException>(() => client.ToRequest(
            [new ChatMessage(ChatRole.User, [new TextContent("What is this?"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")])], null));
        Assert.Contains("DataContent", e.Message);
        Assert.Contains("messages[0]", e.Message);
        e = Assert.Throws<NotSupportedException>(() => client.ToRequest(
            [user, new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("call-1", "get_weather")])], null));
        Assert.Contains("FunctionCallContent", e.Message);
        Assert.Contains("messages[1]", e.Message);
        e = Assert.Throws<NotSupportedException>(() => client.ToRequest(
            [user, new ChatMessage(ChatRole.User, [new FunctionResultContent("call-1", "sunny")])], null));
        Assert.Contains("FunctionResultContent", e.Message);
        e = Assert.Throws<NotSupportedException>(() => client.ToRequest(
            [user, new ChatMessage(ChatRole.Assistant, [new TextReasoningContent("thinking"), new TextContent("Woof")])], null));
        Assert.Contains("TextReasoningContent", e.Message);
        e = Assert.Throws<NotSupportedException>(() => client.ToRequest([user, new ChatMessage(ChatRole.Tool, [new FunctionResultContent("call-1", "sunny")])], null));
        Assert.Contains("'tool'", e.Message);
        Assert.Contains("no chat template", e.Message);
        // A tool message with no result to tell is the caller's mistake, whatever the model.
        Assert.Contains("FunctionResultContent", Assert.Throws<ArgumentException>(() => client.ToRequest([user, new ChatMessage(ChatRole.Tool, "sunny")], null)).Message);
        ArgumentException a = Assert.Throws<ArgumentException>(() => client.ToRequest([new ChatMessage(new ChatRole("narrator"), "Once")], null));
        Assert.Contains("'narrator'", a.Message);
        a = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([user], new ChatOptions { ModelId = "gpt-4o" }));
        Assert.Contains("'gpt-4o'", a.Message);
        Assert.Contains("'stories260K'", a.Message);
        await Assert.ThrowsAsync<NotSupportedException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, [new UriContent("https://example.com/a.png", "image/png")])]))
            {
            }
        });

        // Taken: the served model's id, text in several parts (joined as ChatMessage.Text joins them), and developer
        // as system (as the server takes it).
        CompletionRequest plain = client.ToRequest([new ChatMessage(ChatRole.System, "Be kind."), user], null);
        CompletionRequest same = client.ToRequest([new ChatMessage(new ChatRole("developer"), "Be kind."),
            new ChatMessage(ChatRole.User, [new TextContent("The little "), new TextContent("dog")])], new ChatOptions { ModelId = "stories260K" });
        Assert.Equal("system: Be kind.\n\nuser: The little dog\n\nassistant:", plain.Prompt);
        Assert.Equal(plain.Prompt, same.Prompt);
        Assert.Equal(plain.Stop, same.Stop);
        Assert.Equal(0, engine.Statistics.Started);
    }

    /// <summary>
    /// Cancelling after the first update ends the generation. The engine waits at its 16th decode step until the test
    /// has cancelled: without that gate a busy test host may run all 400 tokens before the first update is read. The
    /// greedy reply's first text comes sooner (its first tokens are whitespace the stop texts hold back).
    /// </summary>
    private const int GatedStep = 16;

    [Fact]
    public async Task Cancelling_a_chat_ends_its_generation()
    {
        using var gate = new ManualResetEventSlim(false);
        using var backend = new CpuBackend();
        int steps = 0;
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            BeforeDecodeStep = () =>
            {
                if (++steps >= GatedStep)
                {
                    // No time limit: one let a step through a minute, past the range below, when the test was that
                    // slow to cancel (a loaded machine). The finally below opens the gate whatever happens.
                    gate.Wait();
                }
            },
        });
        IChatClient client = new CopalChatClient(engine);
        using var cancel = new CancellationTokenSource();
        int updates = 0;
        try
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Once")],
                    new ChatOptions { MaxOutputTokens = 400, Temperature = 0 }, cancel.Token))
                {
                    updates++;
                    await cancel.CancelAsync();
                }
            });
        }
        finally
        {
            gate.Set();
        }
        Assert.Equal(1, updates);
        Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Cancelled == 1, TimeSpan.FromMinutes(1)), "the generation went on");
        Assert.Equal(0, engine.Statistics.Completed);
        // Up to the gated step, and at most that one step past it: nowhere near the 400 asked for.
        Assert.InRange(engine.Statistics.Tokens, 1, GatedStep + 1);
    }

    [Fact]
    public void The_plain_formatter_writes_one_paragraph_per_message_and_asks_for_the_assistant()
    {
        ChatPrompt p = PlainChatFormatter.Instance.Format([new ChatTurn("system", "S"), new ChatTurn("user", "U")]);
        Assert.Equal("system: S\n\nuser: U\n\nassistant:", p.Text);
        Assert.True(p.AddSpecialTokens);
        Assert.Contains("\n\nuser:", p.StopTexts);
    }

    /// <summary>The next turn of a long conversation: its usage says how much of the prompt came from the prefix cache.</summary>
    [Fact]
    public async Task The_next_turn_reports_the_prompt_tokens_its_cache_held()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 });
        IChatClient client = new CopalChatClient(engine);
        string story = string.Join(' ', Enumerable.Repeat("The little dog ran to the park and played with a red ball.", 12));
        List<ChatMessage> chat = [new(ChatRole.User, story)];
        ChatResponse first = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 8, Instructions = "Be kind." });
        Assert.True(first.Usage!.InputTokenCount > 2 * 128, $"{first.Usage.InputTokenCount} prompt tokens: too short for two chunks");
        chat.AddRange(first.Messages);
        chat.Add(new ChatMessage(ChatRole.User, "What happened next?"));
        ChatResponse second = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 8, Instructions = "Be kind." });
        long whole = first.Usage.InputTokenCount!.Value / 128 * 128;
        Assert.Equal(0, first.Usage.CachedInputTokenCount);
        Assert.Equal(whole, second.Usage!.CachedInputTokenCount);
    }
}
