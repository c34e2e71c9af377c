using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// <see cref="CopalChatClient"/> refuses what copal serve refuses, and names the ChatOptions property the caller set:
/// the engine's and the formatter's messages name the server's fields (tools, chat_template_kwargs), which a caller of
/// IChatClient never wrote.
/// </summary>
public sealed class ChatClientRefusalNameTests : IDisposable
{
    private static readonly ChatMessage[] s_hi = [new(ChatRole.User, "hi")];
    private readonly Stories260KEngine _stories = new();
    private readonly CopalChatClient _client;

    public ChatClientRefusalNameTests() => _client = new CopalChatClient(_stories.Engine, TemplateGoldens.Formatter("qwen2.5-tools"));

    public void Dispose() => _stories.Dispose();

    private static AITool Function(string name, string description = "d") =>
        AIFunctionFactory.CreateDeclaration(name, description, JsonDocument.Parse("{\"type\":\"object\",\"properties\":{}}").RootElement);

    /// <summary>
    /// At most 128 functions, OpenAI's bound, which the server holds requests to (counted before any is read): the
    /// client took any number, and a template that writes every tool grew past the renderer's bound on its output.
    /// </summary>
    [Fact]
    public void More_tools_than_the_server_takes_are_refused_naming_ChatOptions_Tools()
    {
        List<AITool> tools = [.. Enumerable.Range(0, OpenAiRequests.MaxTools + 1).Select(i => Function($"f{i}"))];
        foreach (ChatToolMode mode in new ChatToolMode[] { ChatToolMode.Auto, ChatToolMode.None, ChatToolMode.RequireAny })
        {
            var e = Assert.Throws<ArgumentException>(() => _client.ToRequest(s_hi, new ChatOptions { Tools = tools, ToolMode = mode }));
            Assert.Equal("options", e.ParamName);
            Assert.StartsWith("ChatOptions.Tools holds at most 128 functions (OpenAI's bound), got 129", e.Message, StringComparison.Ordinal);
        }
        // Counted before any is read: a tool the client cannot show after the 128th is not what is reported.
        tools[OpenAiRequests.MaxTools] = new HostedWebSearchTool();
        Assert.StartsWith("ChatOptions.Tools holds at most 128", Assert.Throws<ArgumentException>(() => _client.ToRequest(s_hi, new ChatOptions { Tools = tools })).Message, StringComparison.Ordinal);
        Assert.Contains("f127", _client.ToRequest(s_hi, new ChatOptions { Tools = tools[..OpenAiRequests.MaxTools] }).Prompt, StringComparison.Ordinal);
    }

    [Fact]
    public void Tools_past_what_a_render_holds_are_refused_naming_ChatOptions_Tools()
    {
        string half = new('a', (1 << 23) + 1);
        var e = Assert.Throws<CompletionRequestException>(() => _client.ToRequest(s_hi, new ChatOptions { Tools = [Function("f", half), Function("g", half)] }));
        Assert.Equal("tools", e.Parameter);
        Assert.StartsWith("ChatOptions.Tools: tools hold ", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A conversation longer than the context is the messages' fault, as the server's chat endpoint names it: the
    /// engine names its prompt, which a caller of IChatClient never gave.
    /// </summary>
    [Fact]
    public async Task A_conversation_past_the_context_is_refused_naming_messages_whole_or_streamed()
    {
        ChatMessage[] messages = [new(ChatRole.User, string.Concat(Enumerable.Repeat("Once upon a time ", 400)))];
        var whole = await Assert.ThrowsAsync<CompletionRequestException>(() => _client.GetResponseAsync(messages));
        var streamed = await Assert.ThrowsAsync<CompletionRequestException>(async () =>
        {
            await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync(messages))
            {
                _ = update;
            }
        });
        foreach (CompletionRequestException e in new[] { whole, streamed })
        {
            Assert.Equal("messages", e.ParamName);
            Assert.True(e.ContextLengthExceeded);
            Assert.Contains("more than the context of", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Template_arguments_the_formatter_refuses_are_named_as_AdditionalProperties_chat_template_kwargs()
    {
        foreach ((IChatFormatter formatter, string kwargs, string reason) in new[]
        {
            ((IChatFormatter)TemplateGoldens.Formatter("qwen2.5-tools"), "{\"messages\": []}", "the template argument 'messages' is set from the request itself; give the others only"),
            (TemplateGoldens.Formatter("qwen2.5-tools"), "{\"range\": 1}", "the template argument 'range' is a built-in name of chat templates; choose another"),
            (PlainChatFormatter.Instance, "{\"enable_thinking\": false}", "the model has no chat template to pass arguments to (given: enable_thinking)"),
        })
        {
            var options = new ChatOptions { AdditionalProperties = new() { ["chat_template_kwargs"] = JsonDocument.Parse(kwargs).RootElement } };
            var e = Assert.Throws<ArgumentException>(() => new CopalChatClient(_stories.Engine, formatter).ToRequest(s_hi, options));
            Assert.Equal("options", e.ParamName);
            Assert.Equal($"AdditionalProperties[\"chat_template_kwargs\"]: {reason} (Parameter 'options')", e.Message);
        }
    }
}
