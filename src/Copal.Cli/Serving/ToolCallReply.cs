using System.Text.Json.Nodes;
using Copal.Model.Chat.ToolCalls;

namespace Copal.Cli.Serving;

/// <summary>
/// One chat reply's tool calls as OpenAI's answer gives them: read from the reply's content as it comes
/// (<see cref="ToolCallSplitter"/>), each with an id of its own (<see cref="ToolCallIds"/>), the first only
/// when the request set parallel_tool_calls false.
/// </summary>
internal sealed class ToolCallReply(OfferedTools tools)
{
    private readonly ToolCallSplitter _splitter = tools.Splitter();

    /// <summary>Whether the reply made a call (known once it is finished).</summary>
    public bool Called { get; private set; }

    /// <summary>The content <paramref name="text"/> completes: what is surely not part of a call.</summary>
    public string Push(string text) => _splitter.Push(text);

    /// <summary>
    /// Ends the reply: the content still held, and <paramref name="calls"/>, the calls as OpenAI's tool_calls (null
    /// when there are none); <paramref name="indexed"/> gives each its index, as a stream's delta does.
    /// </summary>
    public string Finish(out JsonArray? calls, bool indexed = false)
    {
        (string content, IReadOnlyList<ToolCall> made) = _splitter.Finish();
        IEnumerable<ToolCall> kept = tools.Parallel ? made : made.Take(1);
        calls = null;
        int index = 0;
        foreach (ToolCall call in kept)
        {
            calls ??= [];
            var entry = new JsonObject();
            if (indexed)
            {
                entry["index"] = index;
            }
            entry["id"] = ToolCallIds.New();
            entry["type"] = "function";
            entry["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = call.Arguments };
            calls.Add(entry);
            index++;
        }
        Called = calls is not null;
        return content;
    }
}
