using System.Collections;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Copal.Model.Chat;

/// <summary>
/// How many characters of text a conversation gives a chat template: each message's content and every string of its
/// other fields (tool calls' arguments, a thought sent back, a name), or the tools' definitions. A template that writes
/// them all writes at least this much, so past the renderer's bound on its output the conversation is too big for any
/// template, whichever field holds the text. JSON values count as their JSON text, as <c>tojson</c> writes them.
/// </summary>
internal static class ConversationText
{
    // Deeper values are not counted: the template's conversion refuses them (ValueConverter), and a value that refers
    // to itself must not recurse without end here first.
    private const int MaxDepth = 64;

    public static long Characters(ChatTurn turn) => (turn.Content?.Length ?? 0) + Characters(turn.Extra, 0);

    public static long Characters(object? value) => Characters(value, 0);

    private static long Characters(object? value, int depth) => depth > MaxDepth ? 0 : value switch
    {
        null => 0,
        string s => s.Length,
        JsonElement e => e.ValueKind == JsonValueKind.Undefined ? 0 : Encoding.UTF8.GetCharCount(JsonMarshal.GetRawUtf8Value(e)),
        JsonValue v => v.TryGetValue(out string? s) ? s.Length : 0,
        JsonObject o => o.Sum(kv => kv.Key.Length + Characters(kv.Value, depth + 1)),
        JsonArray a => a.Sum(n => Characters(n, depth + 1)),
        IEnumerable<KeyValuePair<string, object?>> d => d.Sum(kv => kv.Key.Length + Characters(kv.Value, depth + 1)),
        IDictionary d => d.Cast<DictionaryEntry>().Sum(kv => Characters(kv.Key, depth + 1) + Characters(kv.Value, depth + 1)),
        IEnumerable e => e.Cast<object?>().Sum(item => Characters(item, depth + 1)),
        // Numbers and booleans: a few characters each.
        _ => 0,
    };
}
