namespace Copal.Model.Chat;

/// <summary>One message of a conversation: a role (system, user, assistant, …) and its text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>
/// A conversation rendered as the model's prompt: the text, whether the tokenizer should add its special tokens
/// (BOS) — a chat template writes them itself — and texts that end the assistant's turn.
/// </summary>
public sealed record ChatPrompt(string Text, bool AddSpecialTokens, IReadOnlyList<string> StopTexts);

/// <summary>Turns a conversation into a prompt that asks the model for the assistant's next message.</summary>
public interface IChatFormatter
{
    ChatPrompt Format(IReadOnlyList<ChatTurn> messages);
}

/// <summary>
/// The formatter for models without a chat template (base models such as stories260K): one "role: text" paragraph
/// per message, then "assistant:" for the model to continue. The tokenizer adds BOS; generation stops where the
/// model starts another speaker's paragraph.
/// </summary>
public sealed class PlainChatFormatter : IChatFormatter
{
    public static PlainChatFormatter Instance { get; } = new();

    public ChatPrompt Format(IReadOnlyList<ChatTurn> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new System.Text.StringBuilder();
        foreach (ChatTurn m in messages)
        {
            text.Append(m.Role).Append(": ").Append(m.Content).Append("\n\n");
        }
        text.Append("assistant:");
        return new ChatPrompt(text.ToString(), AddSpecialTokens: true, StopTexts: ["\n\nuser:", "\n\nsystem:"]);
    }
}
