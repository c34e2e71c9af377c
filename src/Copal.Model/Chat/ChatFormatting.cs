namespace Copal.Model.Chat;

/// <summary>One message of a conversation: a role (system, user, assistant, tool, …), its text and, for tools, more fields.</summary>
/// <param name="Role">The speaker, lower case: "system", "user", "assistant" or "tool".</param>
/// <param name="Content">The message's text; null for an assistant's message that only calls tools.</param>
/// <param name="Extra">
/// Further fields the chat template sees, as OpenAI's messages carry them: an assistant's <c>tool_calls</c> (each
/// <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>, the arguments an object, as Hugging Face's
/// templates take them), a tool message's <c>tool_call_id</c> and <c>name</c>. Null for none.
/// </param>
public sealed record ChatTurn(string Role, string? Content, IReadOnlyDictionary<string, object?>? Extra = null);

/// <summary>
/// A conversation rendered as the model's prompt: the text, whether the tokenizer should add its special tokens
/// (BOS) — a chat template writes them itself — and texts that end the assistant's turn.
/// </summary>
/// <param name="Text">The prompt text, ending where the assistant's reply starts.</param>
/// <param name="AddSpecialTokens">Whether the tokenizer's post-processor runs on <paramref name="Text"/> (<see cref="Serving.CompletionRequest.AddSpecialTokens"/>).</param>
/// <param name="StopTexts">Texts at which the reply ends, beside the model's EOS ids; empty for none.</param>
public sealed record ChatPrompt(string Text, bool AddSpecialTokens, IReadOnlyList<string> StopTexts);

/// <summary>Turns a conversation into a prompt that asks the model for the assistant's next message.</summary>
public interface IChatFormatter
{
    /// <summary>The prompt for <paramref name="messages"/>, in order, followed by the start of the assistant's turn.</summary>
    ChatPrompt Format(IReadOnlyList<ChatTurn> messages);

    /// <summary>
    /// The prompt, with <paramref name="templateArguments"/> (OpenAI-compatible servers' <c>chat_template_kwargs</c>,
    /// e.g. Qwen3's <c>enable_thinking</c>) passed to the chat template. Only a chat template takes arguments: this
    /// default, for formatters without one, refuses any.
    /// </summary>
    /// <exception cref="ArgumentException">Arguments were given and the formatter has no template to pass them to.</exception>
    ChatPrompt Format(IReadOnlyList<ChatTurn> messages, IReadOnlyDictionary<string, object?>? templateArguments) =>
        templateArguments is null || templateArguments.Count == 0 ? Format(messages)
        : throw new ArgumentException($"the model has no chat template to pass arguments to (given: {string.Join(", ", templateArguments.Keys)})", nameof(templateArguments));

    /// <summary>
    /// The prompt with <paramref name="tools"/> (OpenAI's tool list: <c>{"type": "function", "function": {…}}</c>
    /// objects) shown to the model, as its chat template shows them. Only a chat template can: this default, for
    /// formatters without one, refuses tools.
    /// </summary>
    /// <exception cref="NotSupportedException">Tools were given and the formatter has no template to show them with.</exception>
    ChatPrompt Format(IReadOnlyList<ChatTurn> messages, IReadOnlyDictionary<string, object?>? templateArguments, IReadOnlyList<object>? tools) =>
        tools is null ? Format(messages, templateArguments)
        : throw new NotSupportedException("the model has no chat template, so nothing shows it the tools or how to call them");
}

/// <summary>
/// The formatter for models without a chat template (base models such as stories260K): one "role: text" paragraph
/// per message, then "assistant:" for the model to continue. The tokenizer adds BOS; generation stops where the
/// model starts another speaker's paragraph.
/// </summary>
public sealed class PlainChatFormatter : IChatFormatter
{
    /// <summary>The one instance needed: the formatter holds no state.</summary>
    public static PlainChatFormatter Instance { get; } = new();

    /// <summary>"role: text" paragraphs separated by a blank line, then "assistant:"; stops at "\n\nuser:" and "\n\nsystem:".</summary>
    /// <exception cref="NotSupportedException">A turn holds a tool call or a tool's result, which no plain paragraph can show.</exception>
    public ChatPrompt Format(IReadOnlyList<ChatTurn> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            ChatTurn m = messages[i];
            if (m.Extra is { Count: > 0 } || m.Role == "tool")
            {
                // Dropping them would leave the model a conversation other than the one sent.
                throw new NotSupportedException($"messages[{i}]: the model has no chat template to write {(m.Role == "tool" ? "a tool's result" : string.Join(", ", m.Extra!.Keys))} with");
            }
            text.Append(m.Role).Append(": ").Append(m.Content ?? "").Append("\n\n");
        }
        text.Append("assistant:");
        return new ChatPrompt(text.ToString(), AddSpecialTokens: true, StopTexts: ["\n\nuser:", "\n\nsystem:"]);
    }
}
