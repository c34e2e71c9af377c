using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;

namespace Copal.Serving.Tests;

/// <summary>
/// A request body's arrays are counted against their bounds before their items are read: a body of 100,000 prompts, or
/// of 100,000 stop texts, is refused for its count without building one request or one string per item. Each prompt
/// became a request of its own first, and the count was checked after: a 28 MB body of <c>[[1],[1],…]</c> took 2.1 GB
/// and 17 s of a core for the 400 its count decides (1.6 GB for strings, 760 MB for stop texts).
/// </summary>
public sealed class RequestArrayBoundTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const int Items = 100_000;

    // What refusing the body costs this thread beside the parse, which takes the body's bytes once whatever is refused.
    // A request built per item is a few hundred bytes (Items of them: tens of megabytes).
    private const long MostBytes = 256 * 1024;

    [Theory]
    [InlineData("\"prompt\":[{0}]", "[1]", "prompt")]
    [InlineData("\"prompt\":[{0}]", "\"a\"", "prompt")]
    [InlineData("\"prompt\":\"a\",\"stop\":[{0}]", "\"a\"", "stop")]
    public void An_array_past_its_bound_is_refused_without_reading_its_items(string field, string item, string param)
    {
        string items = string.Join(",", Enumerable.Repeat(item, Items));
        JsonElement body = OpenAiRequests.ParseBody(Encoding.UTF8.GetBytes("{\"model\":\"stories260K\"," + string.Format(System.Globalization.CultureInfo.InvariantCulture, field, items) + "}"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.Completion(body, server.Engine));
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
        Assert.Contains(Items.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
        Assert.InRange(bytes, 0, MostBytes);
    }

    /// <summary>
    /// tools holds at most 128 functions, OpenAI's bound, counted before any is read. Without it each name was checked
    /// against every name before it (a list), so 300,000 small functions, a 20 MB body, held a core for minutes; and a
    /// template that writes every tool grew past the renderer's output bound, a 500 that blamed the template.
    /// </summary>
    [Fact]
    public void Tools_past_openais_128_are_refused_before_any_is_read()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for t in tools %}{{ t.function.name }};{% endfor %}{% for m in messages %}{{ m.content }}{% endfor %}"));
        var hermes = new ToolCallReading(ToolCallFormat.Hermes, "");
        OpenAiRequest atBound = OpenAiRequests.Chat(ChatBody(messages: 1, tools: OpenAiRequests.MaxTools), server.Engine, formatter, hermes);
        Assert.StartsWith("f0;f1;", atBound.Prompts.Single().Prompt, StringComparison.Ordinal);
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.Chat(ChatBody(messages: 1, tools: OpenAiRequests.MaxTools + 1), server.Engine, formatter, hermes));
        Assert.Equal(400, e.Status);
        Assert.Equal("tools", e.Param);
        Assert.Equal("tools holds at most 128 functions (OpenAI's bound), got 129", e.Message);
    }

    /// <summary>
    /// A chat template renders at most 10,000 messages, a number its step budget always holds (a real template spends
    /// well under 1,000 steps of the renderer's 10^7 on a message). More is the request's fault, a 400 naming messages
    /// before the render: 933,333 messages (a 28 MB body) ran Qwen3's template out of its budget after 13 s of a core,
    /// and the client got a 500 that blamed the template ("a loop that runs without end?") with the server's path to it.
    /// </summary>
    [Fact]
    public void A_conversation_past_what_a_template_renders_is_refused_naming_messages()
    {
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}"));
        Assert.Equal(new string('a', TemplateChatFormatter.MaxMessages), OpenAiRequests.Chat(ChatBody(TemplateChatFormatter.MaxMessages, tools: 0), server.Engine, formatter).Prompts.Single().Prompt);
        Exception e = Record.Exception(() => OpenAiRequests.Chat(ChatBody(TemplateChatFormatter.MaxMessages + 1, tools: 0), server.Engine, formatter));
        (int status, JsonElement error) = Error(e);
        Assert.Equal(400, status);
        Assert.Equal("messages", error.GetProperty("param").GetString());
        Assert.Equal("messages holds 10001 messages, more than the 10000 a chat template renders in one request", error.GetProperty("message").GetString());
    }

    /// <summary>
    /// Messages whose contents hold more than the renderer's bound on a string (16M characters, Interpreter.MaxLength)
    /// are refused naming messages, before the render: two messages of 8M characters (a 16 MB body) grew the
    /// template's output past that bound, a 500 that blamed the template ("a loop that writes without end?").
    /// </summary>
    [Fact]
    public void Messages_past_what_a_render_holds_are_refused_naming_messages()
    {
        const int Half = (1 << 23) + 1; // two of them: 2 characters past 2^24
        var formatter = new TemplateChatFormatter(new ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}"));
        string content = new('a', Half);
        JsonElement body = OpenAiRequests.ParseBody(JsonSerializer.SerializeToUtf8Bytes(new
        {
            model = "stories260K",
            messages = new[] { new { role = "user", content }, new { role = "user", content } },
        }));
        (int status, JsonElement error) = Error(Record.Exception(() => OpenAiRequests.Chat(body, server.Engine, formatter)));
        Assert.Equal(400, status);
        Assert.Equal("messages", error.GetProperty("param").GetString());
        Assert.Equal("messages hold 16777218 characters of text (contents, tool calls and other fields), more than the 16777216 a chat template's render holds", error.GetProperty("message").GetString());
    }

    private static JsonElement ChatBody(int messages, int tools)
    {
        var sb = new StringBuilder("{\"model\":\"stories260K\",\"max_tokens\":1,\"messages\":[");
        sb.AppendJoin(',', Enumerable.Repeat("{\"role\":\"user\",\"content\":\"a\"}", messages));
        sb.Append(']');
        if (tools > 0)
        {
            sb.Append(",\"tools\":[");
            sb.AppendJoin(',', Enumerable.Range(0, tools).Select(i => $"{{\"type\":\"function\",\"function\":{{\"name\":\"f{i}\"}}}}"));
            sb.Append(']');
        }
        return OpenAiRequests.ParseBody(Encoding.UTF8.GetBytes(sb.Append('}').ToString()));
    }

    // The status and error object the server answers for e.
    private static (int Status, JsonElement Error) Error(Exception? e)
    {
        Assert.NotNull(e);
        (int status, System.Text.Json.Nodes.JsonObject body) = OpenAiErrors.ErrorObject(e, chat: true);
        return (status, JsonDocument.Parse(body.ToJsonString()).RootElement.GetProperty("error"));
    }
}
