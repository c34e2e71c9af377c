using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>A conversation with a tool call, its messages built as serve and the chat client give them to a template.</summary>
internal static class ToolCallMessages
{
    /// <summary>
    /// "Find it.", answered by the assistant's call of <c>search</c> with <paramref name="arguments"/>: a mapping, or a
    /// JSON element as a client's request holds them.
    /// </summary>
    public static ChatTemplateMessage[] FindItBySearch(object arguments)
    {
        var call = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "search", ["arguments"] = arguments },
        };
        return
        [
            new("user", "Find it."),
            new("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new List<object?> { call } }),
        ];
    }
}
