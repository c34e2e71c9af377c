using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Copal.Testing;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// serve --reasoning-parser and the chat client's splitReasoning: a reply's think block answered apart. stories260K
/// writes no tags, so the whole-model tests use templates that leave the block open (DeepSeek-R1's way: the whole
/// reply is reasoning) or closed (Qwen3 with thinking off: the whole reply is content); a reply with both is split
/// chunk by chunk on made-up chunks.
/// </summary>
public sealed class ReasoningTests : IDisposable
{
    // DeepSeek-R1's way: the template opens the block for the model.
    private const string OpenThinkTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}";

    private readonly Stories260KEngine _stories = new();


    public void Dispose() => _stories.Dispose();

    private const string Request = "\"model\":\"stories260K\",\"max_tokens\":24,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}]";

    [Fact]
    public async Task A_reply_in_an_open_think_block_is_all_reasoning_whole_or_streamed_and_content_when_the_block_is_closed()
    {
        var open = new TemplateChatFormatter(new ChatTemplate(OpenThinkTemplate));
        await using OpenAiServer plain = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, open);
        await using OpenAiServer split = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, open, splitReasoning: true);
        string reply = Message(await PostAsync(plain, "{" + Request + "}")).GetProperty("content").GetString()!;
        Assert.NotEmpty(reply.Trim());
        Assert.False(Message(await PostAsync(plain, "{" + Request + "}")).TryGetProperty("reasoning_content", out _));

        JsonElement whole = Message(await PostAsync(split, "{" + Request + "}"));
        Assert.Equal(reply.TrimStart(), whole.GetProperty("reasoning_content").GetString());
        Assert.Equal(JsonValueKind.Null, whole.GetProperty("content").ValueKind); // vLLM's answer for a reply that is all reasoning

        List<JsonElement> deltas = await ChatHttp.StreamDeltasAsync(split, "{" + Request + ",\"stream\":true}");
        Assert.Equal(reply.TrimStart(), string.Concat(deltas.Select(d => d.TryGetProperty("reasoning_content", out JsonElement r) ? r.GetString() : "")));
        Assert.Equal("", string.Concat(deltas.Select(d => d.TryGetProperty("content", out JsonElement c) ? c.GetString() : "")));

        // Qwen3 with thinking off: its template writes the empty block, so the reply is the answer.
        var closed = new TemplateChatFormatter(new ChatTemplate(ChatFormatterTests.ThinkingTemplate));
        await using OpenAiServer qwen = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, closed, splitReasoning: true);
        await using OpenAiServer qwenPlain = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, closed);
        const string Off = ",\"chat_template_kwargs\":{\"enable_thinking\":false}";
        JsonElement answer = Message(await PostAsync(qwen, "{" + Request + Off + "}"));
        Assert.Equal(JsonValueKind.Null, answer.GetProperty("reasoning_content").ValueKind);
        Assert.Equal(Message(await PostAsync(qwenPlain, "{" + Request + Off + "}")).GetProperty("content").GetString(), answer.GetProperty("content").GetString());
    }

    [Fact]
    public void A_streamed_reply_comes_as_reasoning_deltas_then_content_deltas_with_the_finish_reason_on_the_last()
    {
        var splitter = new ThinkTagSplitter("<|im_start|>assistant\n");
        string[] texts = ["<think>", "\nHmm", ".</thi", "nk>\n\nYes", "!"];
        var sent = new List<JsonObject>();
        for (int i = 0; i < texts.Length; i++)
        {
            var chunk = new CompletionChunk(texts[i], [i]) { FinishReason = i == texts.Length - 1 ? FinishReason.Stop : null };
            sent.AddRange(OpenAiChoice.ChatDeltas(chunk, splitter));
        }
        string[] expected =
        [
            """{"reasoning_content":"Hmm"}""", """{"reasoning_content":"."}""", """{"content":"Yes"}""", """{"content":"!"}""",
        ];
        Assert.Equal(expected, sent.Select(c => c["delta"]!.ToJsonString()));
        Assert.Equal([null, null, null, "stop"], sent.Select(c => c["finish_reason"]?.GetValue<string>()));

        // Without a splitter the text is content as it comes; an empty last chunk still carries the finish reason.
        Assert.Equal("<think>", OpenAiChoice.ChatDeltas(new CompletionChunk("<think>", [1]), null).Single()["delta"]!["content"]!.GetValue<string>());
        Assert.Empty(OpenAiChoice.ChatDeltas(new CompletionChunk("", []), null));
        JsonObject end = OpenAiChoice.ChatDeltas(new CompletionChunk("", []) { FinishReason = FinishReason.Length }, new ThinkTagSplitter("")).Single();
        Assert.Equal("{}", end["delta"]!.ToJsonString());
        Assert.Equal("length", end["finish_reason"]!.GetValue<string>());
    }

    /// <summary>
    /// A streamed chunk whose text splits into a reasoning delta and a content delta sends its tokens' log-probabilities
    /// once, on the last of them: the piece that closes the chunk, as the finish reason does.
    /// </summary>
    [Fact]
    public void A_chunk_split_into_reasoning_and_content_sends_its_logprobs_on_the_last_delta()
    {
        var tokenizer = Copal.Model.Tokenization.CopalTokenizer.FromDirectory(TestData.Stories260K);
        var choice = new OpenAiChoice(0, countsPrompt: true, new CompletionRequest { Prompt = "" }, chat: true, echo: null,
            new ThinkTagSplitter("<|im_start|>assistant\n"), new OpenAiLogprobs(tokenizer, chat: true));
        var chosen = new TokenLogprob(5, -0.5f);
        List<JsonObject> pieces = choice.Stream(new CompletionChunk("<think>a</think>b", [5]) { Logprobs = new ChosenLogprobs(chosen, []) });
        Assert.Equal(["""{"role":"assistant","content":""}""", """{"reasoning_content":"a"}""", """{"content":"b"}"""], pieces.Select(p => p["delta"]!.ToJsonString()));
        Assert.Null(pieces[1]["logprobs"]);
        Assert.Equal(-0.5f, pieces[2]["logprobs"]!["content"]!.AsArray().Single()!["logprob"]!.GetValue<float>());
    }

    [Fact]
    public async Task The_chat_client_gives_the_reasoning_as_reasoning_content_leaves_it_out_when_asked_and_takes_its_replies_back()
    {
        var open = new TemplateChatFormatter(new ChatTemplate(OpenThinkTemplate));
        ChatMessage[] chat = [new ChatMessage(ChatRole.User, "Once")];
        var options = new ChatOptions { MaxOutputTokens = 24 };
        string reply = (await new CopalChatClient(_stories.Engine, open).GetResponseAsync(chat, options)).Text;

        IChatClient client = new CopalChatClient(_stories.Engine, open, splitReasoning: true);
        ChatResponse whole = await client.GetResponseAsync(chat, options);
        Assert.Equal(reply.TrimStart(), Assert.IsType<TextReasoningContent>(Assert.Single(whole.Messages.Single().Contents)).Text);
        Assert.Equal("", whole.Text);
        var streamed = new List<AIContent>();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(chat, options))
        {
            streamed.AddRange(update.Contents);
        }
        Assert.Equal(reply.TrimStart(), string.Concat(streamed.OfType<TextReasoningContent>().Select(r => r.Text)));
        Assert.Empty(streamed.OfType<TextContent>());

        ChatResponse none = await client.GetResponseAsync(chat, new ChatOptions { MaxOutputTokens = 24, Reasoning = new ReasoningOptions { Output = ReasoningOutput.None } });
        Assert.Empty(none.Messages.Single().Contents);

        // The reply goes back into the conversation whole; its reasoning goes to the template as reasoning_content, which this one does not write.
        ChatMessage[] next = [.. chat, .. whole.Messages, new ChatMessage(ChatRole.User, "Then?")];
        Assert.Equal(new CopalChatClient(_stories.Engine, open).ToRequest([.. chat, new ChatMessage(ChatRole.Assistant, ""), new ChatMessage(ChatRole.User, "Then?")], null).Prompt,
            ((CopalChatClient)client).ToRequest(next, null).Prompt);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => new CopalChatClient(_stories.Engine, open).ToRequest(next, null));
        Assert.Contains("TextReasoningContent", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// JSON mode (and a JSON schema) holds a reply to JSON from its first token, so no reasoning comes: where the
    /// template opened a think block for the model, the object is the content, not reasoning_content (it once landed
    /// there, content null).
    /// </summary>
    [Theory]
    [InlineData("{\"type\":\"json_object\"}")]
    [InlineData("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":{\"type\":\"object\"}}}")]
    public async Task In_JSON_mode_an_open_think_block_leaves_the_object_in_the_content(string format)
    {
        var open = new TemplateChatFormatter(new ChatTemplate(OpenThinkTemplate));
        await using OpenAiServer split = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, open, splitReasoning: true);
        JsonElement message = Message(await PostAsync(split, "{" + Request + ",\"response_format\":" + format + "}"));
        Assert.StartsWith("{", message.GetProperty("content").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, message.GetProperty("reasoning_content").ValueKind);

        IChatClient client = new CopalChatClient(_stories.Engine, open, splitReasoning: true);
        ChatResponse reply = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once")], new ChatOptions { MaxOutputTokens = 24, ResponseFormat = ChatResponseFormat.Json });
        Assert.StartsWith("{", reply.Text, StringComparison.Ordinal);
        Assert.Empty(reply.Messages.Single().Contents.OfType<TextReasoningContent>());
    }

    private static JsonElement Message(JsonElement body) => body.GetProperty("choices")[0].GetProperty("message");

    private static async Task<JsonElement> PostAsync(OpenAiServer server, string body)
    {
        (int status, JsonElement reply) = await ChatHttp.PostAsync(server, body);
        Assert.Equal(200, status);
        return reply;
    }

    /// <summary>
    /// Qwen3's template writes the thought of an assistant message after the last user message (a step of tool calls
    /// within the current turn) from its reasoning_content, as Hugging Face renders the message and vLLM passes it
    /// (from reasoning_content, or from reasoning, vLLM's newer name). It was passed over: the model saw its own tool
    /// call without the reasoning it was trained to see before it. The expected text is Python Jinja2's render of the
    /// same template and messages.
    /// </summary>
    [Fact]
    public void A_thought_sent_back_reaches_Qwen3s_template_as_Hugging_Face_renders_it()
    {
        var qwen3 = new TemplateChatFormatter(ChatTemplate.FromDirectory(TestData.Path("tokenizers", "qwen3"))!);
        const string Expected = "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<think>\nCall the tool.\n</think>\n\n<tool_call>\n"
            + "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n"
            + "</tool_response><|im_end|>\n<|im_start|>assistant\n";
        foreach (string field in new[] { "reasoning_content", "reasoning" })
        {
            string body = "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":\"assistant\",\"" + field
                + "\":\"Call the tool.\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
                + "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}]}";
            using JsonDocument request = JsonDocument.Parse(body);
            Assert.Equal(Expected, OpenAiRequests.Chat(request.RootElement, _stories.Engine, qwen3).Prompts[0].Prompt);
        }
        // The chat client passes an assistant's TextReasoningContent the same way.
        ChatMessage[] chat = [new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new TextReasoningContent("Call the tool."), new FunctionCallContent("c1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new(ChatRole.Tool, [new FunctionResultContent("c1", "sunny")])];
        Assert.Equal(Expected, new CopalChatClient(_stories.Engine, qwen3, splitReasoning: true).ToRequest(chat, null).Prompt);
    }
}
