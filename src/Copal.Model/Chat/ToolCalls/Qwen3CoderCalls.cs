using System.Text;
using System.Text.Json;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// Reads the calls of a Qwen3-Coder reply, from its first <c>&lt;tool_call&gt;</c> on: blocks of
/// <c>&lt;tool_call&gt;\n&lt;function=NAME&gt;\n&lt;parameter=P&gt;\nvalue\n&lt;/parameter&gt;\n…&lt;/function&gt;\n&lt;/tool_call&gt;</c>
/// with only whitespace between and after them. A value is the raw text between <c>&lt;parameter=P&gt;</c> and
/// <c>&lt;/parameter&gt;</c>, less one newline at each end (as vLLM's <c>qwen3_coder</c> parser takes it), typed by the
/// function's schema (<see cref="ParameterValues"/>). A <c>&lt;/parameter&gt;</c> ends the value only where the next
/// parameter or <c>&lt;/function&gt;</c> follows it, so code that holds the tag stays the value's.
/// </summary>
internal static class Qwen3CoderCalls
{
    private const string ToolCallOpen = "<tool_call>";
    private const string ToolCallClose = "</tool_call>";
    private const string FunctionOpen = "<function=";
    private const string FunctionClose = "</function>";
    private const string ParameterOpen = "<parameter=";
    private const string ParameterClose = "</parameter>";

    /// <summary>
    /// The calls in <paramref name="text"/>, or null when they do not read: a block cut short (no
    /// <c>&lt;/function&gt;</c>), a function not in <paramref name="schemas"/>, other text between or after the blocks.
    /// The last block may lack <c>&lt;/tool_call&gt;</c> (the reply ended at the model's end-of-turn token).
    /// </summary>
    /// <param name="text">The reply from its first <c>&lt;tool_call&gt;</c>.</param>
    /// <param name="schemas">Each offered function's parameters schema by name (null: none given).</param>
    public static List<ToolCall>? Read(string text, IReadOnlyDictionary<string, JsonElement?> schemas)
    {
        var calls = new List<ToolCall>();
        int at = 0;
        while (true)
        {
            at = ReplyText.SkipWhitespace(text, at);
            if (at == text.Length)
            {
                return calls;
            }
            if (!ReplyText.At(text, at, ToolCallOpen) || !ReplyText.At(text, at = ReplyText.SkipWhitespace(text, at + ToolCallOpen.Length), FunctionOpen)
                || Name(text, at + FunctionOpen.Length) is not (string name, int body) || !schemas.TryGetValue(name, out JsonElement? schema)
                || Arguments(text, body, schema) is not (string arguments, int end))
            {
                return null;
            }
            calls.Add(new ToolCall(name, arguments));
            at = ReplyText.SkipWhitespace(text, end);
            if (at == text.Length)
            {
                return calls;
            }
            if (!ReplyText.At(text, at, ToolCallClose))
            {
                return null;
            }
            at += ToolCallClose.Length;
        }
    }

    // The parameters from `at` (just past <function=NAME>) to </function>: the arguments object's JSON text (a name
    // written twice keeps its last value, as a dictionary does) and where the function's block ends.
    private static (string Arguments, int End)? Arguments(string text, int at, JsonElement? schema)
    {
        var values = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            at = ReplyText.SkipWhitespace(text, at);
            if (ReplyText.At(text, at, FunctionClose))
            {
                return (Json(values), at + FunctionClose.Length);
            }
            if (!ReplyText.At(text, at, ParameterOpen) || Name(text, at + ParameterOpen.Length) is not (string name, int start)
                || ValueEnd(text, start) is not int end)
            {
                return null;
            }
            string raw = text[start..end];
            raw = raw.StartsWith('\n') ? raw[1..] : raw;
            raw = raw.EndsWith('\n') ? raw[..^1] : raw;
            values[name] = ParameterValues.Convert(raw, name, schema);
            at = end + ParameterClose.Length;
        }
    }

    // The </parameter> that ends a value starting at `at`: the first one the next <parameter= or </function> follows.
    private static int? ValueEnd(string text, int at)
    {
        for (int end = text.IndexOf(ParameterClose, at, StringComparison.Ordinal); end >= 0;
            end = text.IndexOf(ParameterClose, end + 1, StringComparison.Ordinal))
        {
            int next = ReplyText.SkipWhitespace(text, end + ParameterClose.Length);
            if (ReplyText.At(text, next, ParameterOpen) || ReplyText.At(text, next, FunctionClose))
            {
                return end;
            }
        }
        return null;
    }

    // A function's or parameter's name from `at` to '>' (one line, not empty), and where what follows it starts.
    private static (string Name, int After)? Name(string text, int at)
    {
        int close = text.IndexOf('>', at);
        if (close <= at || text.AsSpan(at, close - at).IndexOfAny('\n', '<') >= 0)
        {
            return null;
        }
        return (text[at..close], close + 1);
    }

    private static string Json(OrderedDictionary<string, string> values)
    {
        var json = new StringBuilder("{");
        foreach ((string name, string value) in values)
        {
            json.Append(json.Length > 1 ? ", " : "").Append(PythonJson.String(name)).Append(": ").Append(value);
        }
        return json.Append('}').ToString();
    }
}
