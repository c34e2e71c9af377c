using Copal.Model.Chat;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>Chat requests are rendered by the model's own chat template when its folder has one.</summary>
public sealed class ChatFormatterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("copal-chatfmt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_model_with_a_chat_template_is_formatted_by_it()
    {
        // A ChatML template, as SmolLM2 and Qwen ship it (abridged to the message loop and the generation prompt).
        const string template = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = template, ["eos_token"] = "<|im_end|>" }));

        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir);
        ChatPrompt prompt = formatter.Format([new ChatTurn("system", "Be brief."), new ChatTurn("user", "Hi")]);

        Assert.IsType<TemplateChatFormatter>(formatter);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt.Text);
        Assert.False(prompt.AddSpecialTokens); // the template writes its own special tokens
    }

    /// <summary>Qwen3's switch, as its template writes it: an empty thought after the generation prompt when thinking is off.</summary>
    internal const string ThinkingTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";

    [Fact]
    public void Template_arguments_reach_the_template_and_the_ones_the_formatter_sets_are_refused()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = ThinkingTemplate, ["eos_token"] = "<|im_end|>" }));
        IChatFormatter formatter = TemplateChatFormatter.ForModel(_dir);
        ChatTurn[] hi = [new ChatTurn("user", "Hi")];

        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", formatter.Format(hi, null).Text);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
            formatter.Format(hi, new Dictionary<string, object?> { ["enable_thinking"] = false }).Text);
        Assert.Equal(formatter.Format(hi).Text, formatter.Format(hi, new Dictionary<string, object?> { ["enable_thinking"] = true }).Text);
        var e = Assert.Throws<ArgumentException>(() => formatter.Format(hi, new Dictionary<string, object?> { ["messages"] = "x" }));
        Assert.Contains("the template argument 'messages' is set from the request itself", e.Message, StringComparison.Ordinal);
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
}
