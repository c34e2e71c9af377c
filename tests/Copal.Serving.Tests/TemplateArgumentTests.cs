using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// chat_template_kwargs, the field vLLM and SGLang take for a chat template's variables (Qwen3's enable_thinking):
/// through the server's chat endpoint and the in-process chat client, on a model whose template has the switch, and
/// refused where the model has no template.
/// </summary>
public sealed class TemplateArgumentTests : IDisposable
{
    private readonly Stories260KEngine _stories = new();
    private readonly TemplateChatFormatter _formatter = new(new ChatTemplate(ChatFormatterTests.ThinkingTemplate));


    public void Dispose() => _stories.Dispose();

    private const string User = "\"model\":\"stories260K\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    private static int PromptTokens(JsonElement body) => body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

    [Fact]
    public async Task The_server_passes_chat_template_kwargs_to_the_template_and_refuses_what_it_cannot_pass()
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, _formatter);
        var (status, thinking) = await ChatHttp.PostAsync(server, "{" + User + "}");
        Assert.Equal(200, status);
        (status, JsonElement off) = await ChatHttp.PostAsync(server, "{" + User + ",\"chat_template_kwargs\":{\"enable_thinking\":false}}");
        Assert.Equal(200, status);
        // The prompt grew by the empty thought the template writes when thinking is off.
        int thought = _stories.Engine.Tokenizer.Encode("<think>\n\n</think>\n\n", addSpecialTokens: false).Length;
        Assert.InRange(PromptTokens(off) - PromptTokens(thinking), thought - 1, thought + 1);
        // A name given twice keeps its last value, as the other servers' JSON readers do.
        (status, JsonElement twice) = await ChatHttp.PostAsync(server, "{" + User + ",\"chat_template_kwargs\":{\"enable_thinking\":true,\"enable_thinking\":false}}");
        Assert.Equal(200, status);
        Assert.Equal(PromptTokens(off), PromptTokens(twice));

        foreach ((string kwargs, string message) in new[]
        {
            ("\"x\"", "chat_template_kwargs must be an object, e.g. {\"enable_thinking\": false}, got the string \"x\""),
            ("{\"messages\":[]}", "chat_template_kwargs: the template argument 'messages' is set from the request itself; give the others only"),
            // A built-in name made the template fail on a redefinition: a 500 for the request's fault.
            ("{\"range\":1}", "chat_template_kwargs: the template argument 'range' is a built-in name of chat templates; choose another"),
            // The integer as given: its double, 9007199254740992, was named, and 2^53 is not beyond 2^53.
            ("{\"n\":9007199254740993}", "chat_template_kwargs: chat template input n: integer 9007199254740993 is beyond ±(2^53 - 1), which the reference cannot represent exactly"),
        })
        {
            (status, JsonElement error) = await ChatHttp.PostAsync(server, "{" + User + ",\"chat_template_kwargs\":" + kwargs + "}");
            Assert.Equal(400, status);
            Assert.Equal("chat_template_kwargs", error.GetProperty("error").GetProperty("param").GetString());
            Assert.Equal(message, error.GetProperty("error").GetProperty("message").GetString());
        }
    }

    [Fact]
    public async Task A_model_without_a_chat_template_refuses_template_arguments()
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0);
        var (status, error) = await ChatHttp.PostAsync(server, "{" + User + ",\"chat_template_kwargs\":{\"enable_thinking\":false}}");
        Assert.Equal(400, status);
        Assert.Equal("chat_template_kwargs: the model has no chat template to pass arguments to (given: enable_thinking)",
            error.GetProperty("error").GetProperty("message").GetString());
        // An empty object asks for nothing.
        (status, _) = await ChatHttp.PostAsync(server, "{" + User + ",\"chat_template_kwargs\":{}}");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task The_chat_client_takes_them_from_AdditionalProperties()
    {
        IChatClient client = new CopalChatClient(_stories.Engine, _formatter);
        ChatMessage[] hi = [new ChatMessage(ChatRole.User, "Hi")];
        long? thinking = (await client.GetResponseAsync(hi, new ChatOptions { MaxOutputTokens = 1 })).Usage?.InputTokenCount;
        foreach (object kwargs in new object[]
        {
            new Dictionary<string, object?> { ["enable_thinking"] = false }, new Dictionary<string, bool> { ["enable_thinking"] = false },
            JsonDocument.Parse("{\"enable_thinking\": false}").RootElement, System.Text.Json.Nodes.JsonNode.Parse("{\"enable_thinking\": false}")!.AsObject(),
        })
        {
            var options = new ChatOptions { MaxOutputTokens = 1, AdditionalProperties = new() { ["chat_template_kwargs"] = kwargs } };
            long? off = (await client.GetResponseAsync(hi, options)).Usage?.InputTokenCount;
            Assert.True(off > thinking, $"{kwargs.GetType().Name}: {off} prompt tokens with thinking off, {thinking} with it on");
        }
        var bad = new ChatOptions { AdditionalProperties = new() { ["chat_template_kwargs"] = "enable_thinking=false" } };
        Assert.Throws<ArgumentException>(() => client.GetResponseAsync(hi, bad).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task Tokenizer_info_hands_out_the_chat_template_as_the_model_gives_it()
    {
        await using OpenAiServer server = await OpenAiServer.StartAsync(_stories.Engine, "127.0.0.1", 0, _formatter);
        using var http = new HttpClient();
        JsonElement info = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Address, "/tokenizer_info"))).RootElement;
        Assert.Equal(ChatFormatterTests.ThinkingTemplate, info.GetProperty("chat_template").GetString());
    }
}
