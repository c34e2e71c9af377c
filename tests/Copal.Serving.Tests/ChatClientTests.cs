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
    /// ChatOptions that the engine has map onto it (TopK; HF's repetition penalty through AdditionalProperties, as
    /// vLLM takes it); those it has no counterpart for are refused, never ignored.
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

        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(chat, new ChatOptions { FrequencyPenalty = 0.5f }));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(chat, new ChatOptions { PresencePenalty = 0.5f }));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(chat, new ChatOptions { ResponseFormat = ChatResponseFormat.Json }));
        Assert.Equal(greedy, (await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 30, FrequencyPenalty = 0, ResponseFormat = ChatResponseFormat.Text })).Text);
    }

    [Fact]
    public async Task Cancelling_a_chat_ends_its_generation()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        IChatClient client = new CopalChatClient(engine);
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Once")],
                new ChatOptions { MaxOutputTokens = 400 }, cancel.Token))
            {
                await cancel.CancelAsync();
            }
        });
        Assert.True(SpinWait.SpinUntil(() => engine.Statistics.Cancelled + engine.Statistics.Completed == 1, TimeSpan.FromMinutes(1)));
        Assert.True(engine.Statistics.Tokens < 400);
    }

    [Fact]
    public void The_plain_formatter_writes_one_paragraph_per_message_and_asks_for_the_assistant()
    {
        ChatPrompt p = PlainChatFormatter.Instance.Format([new ChatTurn("system", "S"), new ChatTurn("user", "U")]);
        Assert.Equal("system: S\n\nuser: U\n\nassistant:", p.Text);
        Assert.True(p.AddSpecialTokens);
        Assert.Contains("\n\nuser:", p.StopTexts);
    }
}
