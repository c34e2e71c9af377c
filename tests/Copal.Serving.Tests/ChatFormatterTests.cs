using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>Chat requests are rendered by the model's own chat template when its folder has one.</summary>
public sealed class ChatFormatterTests : IDisposable
{
    private readonly TempDir _dir = new("copal-chatfmt-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_model_with_a_chat_template_is_formatted_by_it()
    {
        // A ChatML template, as SmolLM2 and Qwen ship it (abridged to the message loop and the generation prompt).
        const string template = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        File.WriteAllText(_dir.File("tokenizer_config.json"),
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = template, ["eos_token"] = "<|im_end|>" }));

        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir.Path);
        ChatPrompt prompt = formatter.Format([new ChatTurn("system", "Be brief."), new ChatTurn("user", "Hi")]);

        Assert.IsType<TemplateChatFormatter>(formatter);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt.Text);
        Assert.False(prompt.AddSpecialTokens); // the template writes its own special tokens
    }

    /// <summary>
    /// An empty chat_template.jinja (a failed save, a placeholder) renders every conversation as no text: the user's
    /// message would be dropped and the model prompted with nothing. transformers renders the same empty text and then
    /// fails generating from no ids; the formatter refuses it at once, naming the file.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData("{% if false %}{{ messages[0]['content'] }}{% endif %}")]
    public void A_template_that_renders_nothing_of_a_conversation_is_refused_naming_its_file(string template)
    {
        File.WriteAllText(_dir.File("chat_template.jinja"), template);
        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir.Path);

        var e = Assert.Throws<ChatTemplateException>(() => formatter.Format([new ChatTurn("user", "Hi")]));

        Assert.StartsWith(_dir.File("chat_template.jinja") + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains("rendered an empty prompt from 1 message", e.Message, StringComparison.Ordinal);
        Assert.Contains(template.Length == 0 ? "the template is empty" : "writes none of the conversation", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A template that writes only the messages' text renders an empty prompt from a message with no text: the
    /// conversation is empty, not the template broken, and nothing is dropped. It was refused as the template's fault
    /// ("it writes none of the conversation"), which serve answers with a 500 for a client's empty message.
    /// </summary>
    [Fact]
    public void A_template_that_renders_an_empty_message_as_nothing_is_not_refused()
    {
        File.WriteAllText(_dir.File("chat_template.jinja"), "{% for message in messages %}{{ message['content'] }}{% endfor %}");
        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir.Path);

        ChatPrompt prompt = formatter.Format([new ChatTurn("user", "")]);

        Assert.Equal("", prompt.Text);
        Assert.Equal("Hi", formatter.Format([new ChatTurn("user", "Hi")]).Text);
        // A message without text that carries something else (a tool call) is dropped by such a template: refused.
        var call = new ChatTurn("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new List<object?>() });
        Assert.Throws<ChatTemplateException>(() => formatter.Format([call]));
    }

    /// <summary>Qwen3's switch, as its template writes it: an empty thought after the generation prompt when thinking is off.</summary>
    internal const string ThinkingTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";

    [Fact]
    public void Template_arguments_reach_the_template_and_the_ones_the_formatter_sets_are_refused()
    {
        File.WriteAllText(_dir.File("tokenizer_config.json"),
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = ThinkingTemplate, ["eos_token"] = "<|im_end|>" }));
        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir.Path);
        ChatTurn[] hi = [new ChatTurn("user", "Hi")];

        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", formatter.Format(hi, null).Text);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
            formatter.Format(hi, new Dictionary<string, object?> { ["enable_thinking"] = false }).Text);
        Assert.Equal(formatter.Format(hi).Text, formatter.Format(hi, new Dictionary<string, object?> { ["enable_thinking"] = true }).Text);
        foreach (string set in (string[])["messages", "add_generation_prompt", "tools"])
        {
            var e = Assert.Throws<ArgumentException>(() => formatter.Format(hi, new Dictionary<string, object?> { [set] = "x" }));
            Assert.Contains($"the template argument '{set}' is set from the request itself", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_plain_formatter_takes_no_template_arguments()
    {
        IChatFormatter plain = PlainChatFormatter.Instance;
        ChatTurn[] hi = [new ChatTurn("user", "Hi")];
        Assert.Equal(plain.Format(hi).Text, plain.Format(hi, new Dictionary<string, object?>()).Text);
        var e = Assert.Throws<ArgumentException>(() => plain.Format(hi, new Dictionary<string, object?> { ["enable_thinking"] = false }));
        Assert.Contains("the model has no chat template to pass arguments to (given: enable_thinking)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_a_chat_template_gets_the_plain_formatter()
    {
        Assert.Same(PlainChatFormatter.Instance, TemplateChatFormatter.ForModel(TestData.Stories260K));
    }

    /// <summary>The prompt a chat request's messages render to through the server's request reading, by <paramref name="template"/>.</summary>
    private static string ServedPrompt(string template, string messages) => ServedPrompt(new TemplateChatFormatter(new ChatTemplate(template)), messages);

    private static string ServedPrompt(IChatFormatter formatter, string messages)
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 });
        using JsonDocument body = JsonDocument.Parse("{\"model\":\"stories260K\",\"messages\":" + messages + "}");
        return OpenAiRequests.Chat(body.RootElement, engine, formatter).Prompts[0].Prompt!;
    }

    /// <summary>
    /// A message's name reaches the template on every role, as Hugging Face's apply_chat_template and vLLM hand a
    /// template the whole message: ChatML templates of OpenAI's kind write it after the role. Only a tool message's
    /// name was passed; a user's was dropped, and the model could not tell two speakers apart.
    /// </summary>
    [Fact]
    public void A_messages_name_reaches_the_template_on_every_role()
    {
        const string template = "{% for m in messages %}<|im_start|>{{ m.role }}{% if m.name %} name={{ m.name }}{% endif %}{{ '\\n' }}{{ m.content }}<|im_end|>\n{% endfor %}";
        Assert.Equal("<|im_start|>system name=rules\nBe brief.<|im_end|>\n<|im_start|>user name=alice\nHi<|im_end|>\n"
            + "<|im_start|>assistant name=bot\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
            ServedPrompt(template, """
                [{"role": "system", "name": "rules", "content": "Be brief."}, {"role": "user", "name": "alice", "content": "Hi"},
                 {"role": "assistant", "name": "bot", "content": "Hello"}, {"role": "user", "content": "Bye"}]
                """));
        // The chat client takes ChatMessage.AuthorName as the name, as OpenAI's clients send it.
        using (var backend = new CpuBackend())
        using (InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 }))
        {
            var client = new CopalChatClient(engine, new TemplateChatFormatter(new ChatTemplate(template)));
            Assert.Equal("<|im_start|>user name=alice\nHi<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
                client.ToRequest([new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "Hi") { AuthorName = "alice" },
                    new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "Bye")], null).Prompt);
        }
        // A model without a template chats in the plain format, which has no place for a name: left out, not refused.
        Assert.Equal("user: Hi\n\nassistant:", ServedPrompt(PlainChatFormatter.Instance, """[{"role": "user", "name": "alice", "content": "Hi"}]"""));
    }

    /// <summary>
    /// A content of several text parts is their texts joined by a newline, as vLLM joins them for a template that takes
    /// a string: joined with nothing between, ["Hello", "world"] reached the model as the one word "Helloworld".
    /// </summary>
    [Fact]
    public void Text_parts_are_joined_by_a_newline_as_vLLM_joins_them()
    {
        const string template = "{% for m in messages %}[{{ m.content }}]{% endfor %}";
        Assert.Equal("[Hello\nworld][one][]", ServedPrompt(template, """
            [{"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]},
             {"role": "assistant", "content": [{"type": "text", "text": "one"}]}, {"role": "user", "content": []}]
            """));
    }
}
