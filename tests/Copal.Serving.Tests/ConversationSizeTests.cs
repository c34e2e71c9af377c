using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// A conversation whose text is past what a chat template's render holds (2^24 characters, the renderer's bound on a
/// string) is refused as the request's fault, a 400 naming its field, before the render, whichever of its fields holds
/// the text: the count took messages' contents alone, so two calls' arguments, two thoughts sent back or two tools'
/// descriptions of 8M characters each (a 16 MB body) grew the template's output past that bound, and the client got
/// a 500 that blamed the template ("a loop that writes without end?").
/// </summary>
public sealed class ConversationSizeTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const int Half = (1 << 23) + 1; // two of them: past 2^24 whatever a field adds around its text
    private static readonly ToolCallReading s_hermes = new(ToolCallFormat.Hermes, "");

    [Fact]
    public void Tool_call_arguments_past_what_a_render_holds_are_refused_naming_messages()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for m in messages %}{{ m.content }}{% for c in m.tool_calls or [] %}{{ c.function.arguments | tojson }}{% endfor %}{% endfor %}"));
        object Call() => new { role = "assistant", tool_calls = new[] { new { id = "c", type = "function", function = new { name = "f", arguments = JsonSerializer.Serialize(new { a = new string('a', Half) }) } } } };
        object[] messages = [new { role = "user", content = "hi" }, Call(), new { role = "tool", tool_call_id = "c", content = "ok" }, Call(), new { role = "tool", tool_call_id = "c", content = "ok" }];
        AssertRefused(Body(messages), formatter, "messages");
    }

    [Fact]
    public void Thoughts_past_what_a_render_holds_are_refused_naming_messages()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for m in messages %}{{ m.reasoning_content }}{{ m.content }}{% endfor %}"));
        object Thought() => new { role = "assistant", content = "x", reasoning_content = new string('a', Half) };
        AssertRefused(Body([new { role = "user", content = "hi" }, Thought(), new { role = "user", content = "hi" }, Thought(), new { role = "user", content = "hi" }]), formatter, "messages");
    }

    [Fact]
    public void Tools_past_what_a_render_holds_are_refused_naming_tools()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}"));
        object Tool(string name) => new { type = "function", function = new { name, description = new string('a', Half) } };
        AssertRefused(Body([new { role = "user", content = "hi" }], tools: [Tool("f"), Tool("g")]), formatter, "tools");
    }

    [Fact]
    public void A_conversation_within_the_bound_renders()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for m in messages %}{{ m.reasoning_content }}{{ m.content }}{% endfor %}"));
        string thought = new('a', 1 << 20);
        OpenAiRequest request = OpenAiRequests.Chat(Body([new { role = "user", content = "hi" }, new { role = "assistant", content = "x", reasoning_content = thought }, new { role = "user", content = "hi" }]), server.Engine, formatter, s_hermes);
        Assert.Equal("hi" + thought + "xhi", request.Prompts.Single().Prompt);
    }

    /// <summary>
    /// The library's chat client refuses the same conversations as its caller's mistake: a <see cref="CompletionRequestException"/>
    /// (an ArgumentException) whose ParamName is messages, its calls' arguments counted as the server's are.
    /// </summary>
    [Fact]
    public void The_chat_client_refuses_calls_past_what_a_render_holds_naming_messages()
    {
        var client = new CopalChatClient(server.Engine, new TemplateChatFormatter(new ChatTemplate(
            "{% for m in messages %}{{ m.content }}{% for c in m.tool_calls or [] %}{{ c.function.arguments | tojson }}{% endfor %}{% endfor %}")));
        ChatMessage[] Call(string id) =>
        [
            new(ChatRole.Assistant, [new FunctionCallContent(id, "f", new Dictionary<string, object?> { ["a"] = new string('a', Half) })]),
            new(ChatRole.Tool, [new FunctionResultContent(id, "ok")]),
        ];
        ChatMessage[] messages = [new(ChatRole.User, "hi"), .. Call("c1"), .. Call("c2")];
        CompletionRequestException e = Assert.Throws<CompletionRequestException>(() => client.ToRequest(messages, null));
        Assert.Equal("messages", e.ParamName);
        Assert.Contains("more than the 16777216 a chat template's render holds", e.Message, StringComparison.Ordinal);
        Assert.Throws<CompletionRequestException>(() => client.ToRequest([.. Enumerable.Repeat(new ChatMessage(ChatRole.User, "a"), TemplateChatFormatter.MaxMessages + 1)], null));
    }

    private void AssertRefused(JsonElement body, TemplateChatFormatter formatter, string param)
    {
        Exception? e = Record.Exception(() => OpenAiRequests.Chat(body, server.Engine, formatter, s_hermes));
        Assert.NotNull(e);
        (int status, System.Text.Json.Nodes.JsonObject answer) = OpenAiErrors.ErrorObject(e, chat: true);
        JsonElement error = JsonDocument.Parse(answer.ToJsonString()).RootElement.GetProperty("error");
        Assert.True(status == 400, $"{status}: {error}");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains("more than the 16777216 a chat template's render holds", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static JsonElement Body(object[] messages, object[]? tools = null) => OpenAiRequests.ParseBody(JsonSerializer.SerializeToUtf8Bytes(
        tools is null ? new { model = "stories260K", max_tokens = 1, messages } : (object)new { model = "stories260K", max_tokens = 1, messages, tools }));
}
