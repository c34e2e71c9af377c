using Copal.Model.ChatTemplates;
using Copal.Tensors;

namespace Copal.Model.Chat;

/// <summary>
/// The formatter for models with a chat template: the conversation rendered by the model's own
/// <c>chat_template</c> (chat_template.jinja, else tokenizer_config.json's) with the generation prompt, as Hugging Face's apply_chat_template
/// does. The template writes BOS itself, so the tokenizer adds no special tokens; the turn ends at the model's EOS
/// ids, which every completion stops on.
/// </summary>
public sealed class TemplateChatFormatter(ChatTemplate template) : IChatFormatter
{
    /// <summary>The model's parsed chat template.</summary>
    public ChatTemplate Template { get; } = template ?? throw new ArgumentNullException(nameof(template));

    /// <summary>
    /// The most messages one render takes, a number the renderer's step budget always holds (a real template spends
    /// well under 1,000 of its 10^7 steps on a message). More is the conversation's fault, refused before the render:
    /// 933,333 messages ran Qwen3's template out of its budget after 13 s of a core, and failed as the template's fault
    /// ("a loop that runs without end?"), which <c>serve</c> answers with a 500.
    /// </summary>
    public const int MaxMessages = 10_000;

    /// <summary>The template rendered over <paramref name="messages"/> with add_generation_prompt; no special tokens added, no stop texts.</summary>
    /// <exception cref="ChatTemplateException">The template fails to render, or raises an error itself (<see cref="ChatTemplateRaisedException"/>).</exception>
    public ChatPrompt Format(IReadOnlyList<ChatTurn> messages) => Format(messages, null);

    /// <summary>
    /// As <see cref="Format(IReadOnlyList{ChatTurn})"/>, the template also seeing <paramref name="templateArguments"/>
    /// as variables (Qwen3's <c>enable_thinking</c>, a <c>date_string</c>, …), as Hugging Face's apply_chat_template
    /// passes its keyword arguments. The variables the formatter sets itself (<c>messages</c>,
    /// <c>add_generation_prompt</c>, <c>tools</c>) cannot be given.
    /// </summary>
    /// <exception cref="ArgumentException">An argument sets one of those variables, or has a type a template cannot take.</exception>
    /// <exception cref="ChatTemplateException">The template fails to render, or raises an error itself (<see cref="ChatTemplateRaisedException"/>).</exception>
    public ChatPrompt Format(IReadOnlyList<ChatTurn> messages, IReadOnlyDictionary<string, object?>? templateArguments) => Format(messages, templateArguments, null);

    /// <summary>
    /// As <see cref="Format(IReadOnlyList{ChatTurn}, IReadOnlyDictionary{string, object?}?)"/>, with <paramref name="tools"/>
    /// as the template's <c>tools</c> (none when null), and each turn's <see cref="ChatTurn.Extra"/> fields
    /// (<c>tool_calls</c>, <c>tool_call_id</c>) on its message. A turn without content (an assistant's that only calls
    /// tools) is given to the template as none, or as empty text where the template fails on none.
    /// </summary>
    /// <exception cref="Serving.CompletionRequestException">More than <see cref="MaxMessages"/> messages, or messages of more
    /// characters (contents, tool calls' arguments, thoughts, names) than a render holds (2^24) (<c>Parameter</c>
    /// "messages"); or tools whose definitions take the whole past that bound (<c>Parameter</c> "tools").</exception>
    public ChatPrompt Format(IReadOnlyList<ChatTurn> messages, IReadOnlyDictionary<string, object?>? templateArguments, IReadOnlyList<object>? tools)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count > MaxMessages)
        {
            throw new Serving.CompletionRequestException("messages", $"messages holds {messages.Count} messages, more than the {MaxMessages} a chat template renders in one request");
        }
        // Text past the renderer's bound on a string would grow the output past it in any template that writes it: the
        // conversation's fault, not (as the render's failure said) the template's. All of it counts, not the contents
        // alone: two calls' arguments, two thoughts or two tools' descriptions of 8M characters each failed so.
        long characters = messages.Sum(ConversationText.Characters);
        if (characters > Interpreter.MaxLength)
        {
            throw new Serving.CompletionRequestException("messages", $"messages hold {characters} characters of text (contents, tool calls and other fields), more than the {Interpreter.MaxLength} a chat template's render holds");
        }
        long toolCharacters = ConversationText.Characters(tools);
        if (characters + toolCharacters > Interpreter.MaxLength)
        {
            throw new Serving.CompletionRequestException("tools", $"tools hold {toolCharacters} characters of definitions, with the messages' {characters} more than the {Interpreter.MaxLength} a chat template's render holds");
        }
        foreach ((string name, object? value) in templateArguments ?? new Dictionary<string, object?>())
        {
            if (name is "messages" or "add_generation_prompt" or "tools")
            {
                throw new ArgumentException($"the template argument '{name}' is set from the request itself; give the others only", nameof(templateArguments));
            }
            if (Builtins.IsGlobal(name))
            {
                // The template would fail on it as a redefinition: the request's fault, a 400 in serve, not the template's.
                throw new ArgumentException($"the template argument '{name}' is a built-in name of chat templates; choose another", nameof(templateArguments));
            }
            try
            {
                // Converted once here too, so a value a template cannot take is the arguments' error, not the render's.
                ValueConverter.From(value, name);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(e.Message, nameof(templateArguments), e);
            }
        }
        ChatTemplateException failed;
        try
        {
            return Prompt(messages, tools, templateArguments, nullContentAs: null);
        }
        catch (ChatTemplateException e) when (messages.Any(m => m.Content is null))
        {
            failed = e;
        }
        // An assistant message that only calls tools has no content (OpenAI's clients send null). Many templates use
        // the content without testing it for none (Qwen3's asks whether "</think>" is in it; ChatML ones concatenate it)
        // and fail, as Python's Jinja fails on them. As llama.cpp does for a template that needs non-null content, such a
        // template is given empty text there; one that tests for none (DeepSeek's, which writes the calls only then)
        // rendered with null, as the reference renders it. Where empty text fails too, the first error stands.
        try
        {
            return Prompt(messages, tools, templateArguments, nullContentAs: "");
        }
        catch (ChatTemplateException)
        {
            throw failed;
        }
    }

    private ChatPrompt Prompt(IReadOnlyList<ChatTurn> messages, IReadOnlyList<object>? tools, IReadOnlyDictionary<string, object?>? templateArguments, string? nullContentAs)
    {
        var turns = messages.Select(m => new ChatTemplateMessage(m.Role, m.Content ?? nullContentAs, m.Extra)).ToList();
        string text = Template.Render(turns, addGenerationPrompt: true, tools, templateArguments);
        bool emptyTemplate = (tools is null ? Template.DefaultText : Template.ToolsText) is "";
        // A conversation whose messages have no text (nor tool calls or other fields) may render as nothing (a
        // template that writes only the text): nothing is dropped then, and the fault is not the template's.
        if (text.Length == 0 && turns.Count > 0 && (emptyTemplate || turns.Any(t => !string.IsNullOrEmpty(t.Content) || t.Extra is { Count: > 0 })))
        {
            // The model would be prompted with nothing and the messages dropped without a word (an empty
            // chat_template.jinja, a failed save): the template's fault, named where it was read.
            string why = emptyTemplate ? "the template is empty" : "it writes none of the conversation";
            throw new ChatTemplateException($"{Template.Source}: rendered an empty prompt from {Plural.Of(turns.Count, "message")}: {why}");
        }
        return new ChatPrompt(text, AddSpecialTokens: false, StopTexts: []);
    }

    /// <summary>The model's template formatter when its folder has a chat template, else the plain one.</summary>
    public static IChatFormatter ForModel(string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        return ChatTemplate.FromDirectory(modelDirectory) is { } template ? new TemplateChatFormatter(template) : PlainChatFormatter.Instance;
    }
}
