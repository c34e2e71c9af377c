using System.Text;
using System.Text.Json;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>A tool call the model wrote: the function's name and its arguments, a JSON object's text.</summary>
/// <param name="Name">One of the tools offered.</param>
/// <param name="Arguments">
/// The arguments, a JSON object ("{}" when it gave none): as the model wrote them where its format is JSON; built from
/// its parameters as vLLM builds them (<see cref="PythonJson"/>) where it is Qwen3-Coder's.
/// </param>
internal sealed record ToolCall(string Name, string Arguments);

/// <summary>
/// Takes a reply's tool calls out of its text, in the model's <see cref="ToolCallFormat"/>, piece by piece as the
/// reply streams (as vLLM's tool parsers do): text before the calls is content, passed on as it comes, except what may
/// be the start of a call, held until the next piece decides it; from the first call on, the text is held, and read
/// when the reply ends. A reply whose calls do not read (JSON or a block cut by max_tokens, a function not offered, a
/// field missing, text after the calls) is all content: a caller is never handed a call it cannot make.
/// </summary>
internal sealed class ToolCallSplitter
{
    private const string ToolCallOpen = "<tool_call>";
    private const string ToolCallClose = "</tool_call>";
    private const string PythonTag = "<|python_tag|>";

    private readonly ToolCallFormat _format;
    private readonly HashSet<string> _names;
    // Qwen3-Coder's values are typed by each function's parameters schema (null: none given).
    private readonly Dictionary<string, JsonElement?> _schemas;
    // A forced call (ForcedToolCalls): the whole reply is the call, held to the end; the callee when the reply is its
    // arguments, null when the reply is {"name", "arguments"}.
    private readonly bool _forced;
    private readonly string? _callee;
    private readonly StringBuilder _held = new();
    private bool _inCalls;
    // Llama 3: whether the reply's first character (after whitespace) has come.
    private bool _started;

    /// <summary>
    /// A splitter for a reply in <paramref name="format"/> that may call the functions <paramref name="toolNames"/>,
    /// whose parameters schemas by name <paramref name="schemas"/> gives where the format writes untyped values
    /// (Qwen3-Coder's; a function it lacks takes every value as text).
    /// </summary>
    public ToolCallSplitter(ToolCallFormat format, IEnumerable<string> toolNames, IEnumerable<KeyValuePair<string, JsonElement?>>? schemas = null)
    {
        if (format == ToolCallFormat.None)
        {
            throw new ArgumentException("a tool-call format is needed to read tool calls", nameof(format));
        }
        ArgumentNullException.ThrowIfNull(toolNames);
        _format = format;
        _names = new HashSet<string>(toolNames, StringComparer.Ordinal);
        _schemas = _names.ToDictionary(name => name, _ => (JsonElement?)null, StringComparer.Ordinal);
        foreach ((string name, JsonElement? schema) in schemas ?? [])
        {
            if (_names.Contains(name))
            {
                _schemas[name] = schema;
            }
        }
    }

    /// <summary>
    /// A splitter for a reply a forced call held to <see cref="ForcedToolCalls.Schema"/>: all of it is the call, the
    /// arguments of <paramref name="callee"/> or, when null, <c>{"name", "arguments"}</c> naming one of <paramref name="toolNames"/>.
    /// </summary>
    public static ToolCallSplitter Forced(string? callee, IEnumerable<string> toolNames) => new(callee, toolNames);

    private ToolCallSplitter(string? callee, IEnumerable<string> toolNames)
        : this(ToolCallFormat.Llama3Json, toolNames)
    {
        _forced = true;
        _inCalls = true;
        _callee = callee;
    }

    /// <summary>The content <paramref name="text"/> completes: what is surely not part of a tool call.</summary>
    public string Push(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _held.Append(text);
        if (_inCalls)
        {
            return "";
        }
        return _format == ToolCallFormat.Llama3Json ? PushLlama3() : PushTagged();
    }

    // Hermes and Qwen3-Coder: the calls start at the first <tool_call>.
    private string PushTagged()
    {
        string held = _held.ToString();
        int open = held.IndexOf(ToolCallOpen, StringComparison.Ordinal);
        if (open >= 0)
        {
            _inCalls = true;
            _held.Remove(0, open);
            return held[..open];
        }
        // Hold back the longest end that could still grow into the tag.
        int keep = Math.Min(held.Length, ToolCallOpen.Length - 1);
        while (keep > 0 && !ToolCallOpen.StartsWith(held[^keep..], StringComparison.Ordinal))
        {
            keep--;
        }
        _held.Remove(0, held.Length - keep);
        return held[..^keep];
    }

    private string PushLlama3()
    {
        if (_started)
        {
            return Release();
        }
        string held = _held.ToString();
        string start = held.TrimStart();
        if (start.Length == 0)
        {
            return "";
        }
        // The reply is a call only if it opens with one: a JSON object, or the python tag before it.
        bool call = start[0] == '{' || (PythonTag.StartsWith(start[..Math.Min(start.Length, PythonTag.Length)], StringComparison.Ordinal));
        if (call && start[0] == '<' && start.Length < PythonTag.Length)
        {
            return ""; // the tag's start: the next piece decides
        }
        _started = true;
        _inCalls = call;
        return call ? "" : Release();
    }

    private string Release()
    {
        string text = _held.ToString();
        _held.Clear();
        return text;
    }

    /// <summary>
    /// Ends the reply: its tool calls, and the content still held (all of what was held when the calls do not read).
    /// Content passed on by <see cref="Push"/> is not repeated.
    /// </summary>
    public (string Content, IReadOnlyList<ToolCall> Calls) Finish()
    {
        string held = Release();
        if (!_inCalls)
        {
            return (held, []);
        }
        List<ToolCall>? calls = _forced && _callee is not null ? ReadArguments(held) : _format switch
        {
            ToolCallFormat.Hermes => ReadHermes(held),
            ToolCallFormat.Qwen3Coder => Qwen3CoderCalls.Read(held, _schemas),
            _ => ReadLlama3(held),
        };
        return calls is { Count: > 0 } ? ("", calls) : (held, []);
    }

    /// <summary>The whole reply <paramref name="text"/> at once: its content (text before the calls) and calls.</summary>
    public static (string Content, IReadOnlyList<ToolCall> Calls) Split(string text, ToolCallFormat format, IEnumerable<string> toolNames,
        IEnumerable<KeyValuePair<string, JsonElement?>>? schemas = null)
    {
        var splitter = new ToolCallSplitter(format, toolNames, schemas);
        string content = splitter.Push(text);
        (string rest, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        return (content + rest, calls);
    }

    // <tool_call> blocks, each a JSON object of name and arguments, with only whitespace between and after; the last
    // may lack its closing tag (the reply ended at the model's end-of-turn token).
    private List<ToolCall>? ReadHermes(string text)
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
            if (!ReplyText.At(text, at, ToolCallOpen))
            {
                return null;
            }
            // The block's JSON ends where its value does: a closing tag inside an argument's string is the argument's.
            int body = ReplyText.SkipWhitespace(text, at + ToolCallOpen.Length);
            byte[] bytes = Encoding.UTF8.GetBytes(text[body..]);
            int length = ValueLength(bytes);
            if (length == 0 || Read(Encoding.UTF8.GetString(bytes, 0, length), "arguments") is not ToolCall call)
            {
                return null;
            }
            calls.Add(call);
            at = ReplyText.SkipWhitespace(text, body + Encoding.UTF8.GetCharCount(bytes, 0, length));
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

    // A forced call's reply that is the callee's arguments: one JSON object (cut short, it is no call).
    private List<ToolCall>? ReadArguments(string text)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object ? [new ToolCall(_callee!, document.RootElement.GetRawText())] : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // JSON objects of name and parameters (Meta's key; arguments, which vLLM reads too, where both are given, as vLLM
    // takes them), joined by ';', after an optional python tag.
    private List<ToolCall>? ReadLlama3(string text)
    {
        string rest = text.TrimStart();
        if (rest.StartsWith(PythonTag, StringComparison.Ordinal))
        {
            rest = rest[PythonTag.Length..];
        }
        var calls = new List<ToolCall>();
        byte[] bytes = Encoding.UTF8.GetBytes(rest);
        int at = 0;
        while (true)
        {
            at = SkipWhitespace(bytes, at);
            if (at == bytes.Length)
            {
                return calls;
            }
            int length = ValueLength(bytes.AsSpan(at));
            if (length == 0 || Read(Encoding.UTF8.GetString(bytes, at, length), "arguments", "parameters") is not ToolCall call)
            {
                return null;
            }
            calls.Add(call);
            at = SkipWhitespace(bytes, at + length);
            if (at < bytes.Length)
            {
                if (bytes[at] != (byte)';')
                {
                    return null;
                }
                at++;
            }
        }
    }

    // The length in bytes of the JSON value that starts `utf8`; 0 when none does.
    private static int ValueLength(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { AllowMultipleValues = true });
        try
        {
            return reader.Read() && reader.TrySkip() ? (int)reader.BytesConsumed : 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    // One call: an object whose "name" is an offered function and whose arguments (under the first of
    // `argumentKeys` present) are an object, or a string holding one; none means no arguments.
    private ToolCall? Read(string json, params string[] argumentKeys)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out JsonElement name)
                || name.ValueKind != JsonValueKind.String || !_names.Contains(name.GetString()!))
            {
                return null;
            }
            foreach (string key in argumentKeys)
            {
                if (root.TryGetProperty(key, out JsonElement arguments))
                {
                    return Arguments(arguments) is string text ? new ToolCall(name.GetString()!, text) : null;
                }
            }
            return new ToolCall(name.GetString()!, "{}");
        }
    }

    private static string? Arguments(JsonElement arguments)
    {
        if (arguments.ValueKind == JsonValueKind.Object)
        {
            return arguments.GetRawText();
        }
        if (arguments.ValueKind == JsonValueKind.String)
        {
            try
            {
                using JsonDocument inner = JsonDocument.Parse(arguments.GetString()!);
                return inner.RootElement.ValueKind == JsonValueKind.Object ? inner.RootElement.GetRawText() : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
        return null;
    }

    private static int SkipWhitespace(byte[] bytes, int at)
    {
        while (at < bytes.Length && bytes[at] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            at++;
        }
        return at;
    }
}

/// <summary>Ids for the calls a reply makes, as OpenAI's look: <c>call_</c> and 24 random hex digits.</summary>
internal static class ToolCallIds
{
    /// <summary>A fresh id.</summary>
    public static string New() => "call_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
}
