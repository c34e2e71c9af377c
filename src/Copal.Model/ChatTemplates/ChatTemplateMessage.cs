namespace Copal.Model.ChatTemplates;

/// <summary>
/// One message of a conversation as a chat template sees it: <c>message.role</c>, <c>message.content</c> and any
/// further fields (<c>tool_calls</c>, <c>name</c>, <c>tool_call_id</c>, <c>reasoning_content</c>...) from
/// <see cref="Extra"/>, in that order. Extra values may be strings, numbers, booleans, null, lists, string-keyed
/// dictionaries or System.Text.Json elements/nodes.
/// </summary>
/// <param name="Role">"system", "user", "assistant", "tool"...</param>
/// <param name="Content">The text; null is passed as none (an assistant message that only calls tools).</param>
/// <param name="Extra">Further fields of the message; keys role and content are not allowed here.</param>
public sealed record ChatTemplateMessage(string Role, string? Content, IReadOnlyDictionary<string, object?>? Extra = null)
{
    /// <param name="path">Where the message is, for errors.</param>
    /// <param name="contentAsParts">Hand the content as one text part, <c>[{"type": "text", "text": Content}]</c>, for a
    /// template that loops over a message's parts (<see cref="ContentFormat"/>); none stays none.</param>
    internal Value ToValue(string path, bool contentAsParts = false)
    {
        object? content = contentAsParts && Content is not null
            ? new List<object?> { new Dictionary<string, object?> { ["type"] = "text", ["text"] = Content } }
            : Content;
        var entries = new List<(string, object?)> { ("role", Role), ("content", content) };
        if (Extra is not null)
        {
            foreach ((string key, object? value) in Extra)
            {
                if (key is "role" or "content")
                {
                    throw new ArgumentException($"chat template input {path}: Extra must not contain '{key}' (use the {(key == "role" ? "Role" : "Content")} property)");
                }
                entries.Add((key, value));
            }
        }
        return ValueConverter.Mapping(entries, path);
    }
}
