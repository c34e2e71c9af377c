using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Turns the caller's .NET values into template values: null, string, bool, numbers, <see cref="JsonElement"/>,
/// <see cref="JsonNode"/>, dictionaries with string keys, sequences and <see cref="ChatTemplateMessage"/>. Numbers keep
/// the kind Python gives them, so a whole float prints as <c>1.0</c> as Python transformers prints it: a JSON number
/// written with a '.' or an exponent is a float (as <c>json.loads</c> reads it), others integers; .NET
/// <c>float</c>, <c>double</c> and <c>decimal</c> are floats, the integer types integers. Mapping keys keep their order, as a Python dict keeps them (the
/// reference sees keys that look like integers first, JavaScript's <c>Object.entries</c> order).
/// </summary>
internal static class ValueConverter
{
    public static Value From(object? input, string path) => From(input, path, 0);

    // depth: how many lists and mappings enclose the input. Bounded as where values are written (Json.MaxDepth): the
    // conversion recurses once a level, and deeper input could not be written anyway.
    private static Value From(object? input, string path, int depth) => input switch
    {
        null => NullValue.Instance,
        Value v => v,
        string s => new StringValue(s),
        bool b => BooleanValue.Of(b),
        char c => new StringValue(c.ToString()),
        byte or sbyte or short or ushort or int or uint or long or ulong =>
            Integer(Convert.ToDouble(input, CultureInfo.InvariantCulture), path, Convert.ToString(input, CultureInfo.InvariantCulture)!),
        float f => new FloatValue(Widen(f)),
        double or decimal => new FloatValue(Convert.ToDouble(input, CultureInfo.InvariantCulture)),
        JsonElement e => FromJson(e, path, depth),
        // A JsonValue made from a .NET number keeps that number's kind; serialized, a double 1.0 would read back as 1.
        JsonValue v when v.TryGetValue(out JsonElement e) => FromJson(e, path, depth),
        JsonValue v when v.TryGetValue(out double d) => new FloatValue(d),
        JsonValue v when v.TryGetValue(out float f) => new FloatValue(Widen(f)),
        JsonValue v when v.TryGetValue(out decimal m) => new FloatValue((double)m),
        // Element by element, not serialized whole: System.Text.Json refuses to write a node deeper than 64 levels.
        JsonObject o => Mapping(o.Select(kv => (kv.Key, (object?)kv.Value)), path, depth),
        JsonArray a => List(a, path, depth),
        JsonNode n => FromJson(JsonSerializer.SerializeToElement(n), path, depth),
        ChatTemplateMessage m => m.ToValue(path),
        IEnumerable<KeyValuePair<string, object?>> d => Mapping(d.Select(kv => (kv.Key, kv.Value)), path, depth),
        IEnumerable<KeyValuePair<string, string>> d => Mapping(d.Select(kv => (kv.Key, (object?)kv.Value)), path, depth),
        IDictionary d => Mapping(d.Keys.Cast<object>().Select(k => (k as string ?? throw Unsupported(path, "a mapping key that is not a string"), d[k])), path, depth),
        IEnumerable e => List(e.Cast<object?>(), path, depth),
        _ => throw Unsupported(path, $"a value of type {input.GetType().Name}"),
    };

    /// <summary>
    /// The double a float's shortest text reads as (0.1f is 0.1): the number a JSON client sends for it (System.Text.Json
    /// writes 0.1f as 0.1) and json.loads reads, where widening it exactly gives 0.10000000149011612.
    /// </summary>
    public static double Widen(float f) =>
        double.Parse(f.ToString("R", CultureInfo.InvariantCulture), NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>
    /// A JSON string or name as text: one escaping half of a surrogate pair ("\ud83d"), which JSON allows, is refused as
    /// an input error; System.Text.Json cannot read it as .NET text and threw InvalidOperationException.
    /// </summary>
    private static string Readable(Func<string?> read, string path)
    {
        try
        {
            return read()!;
        }
        catch (InvalidOperationException)
        {
            throw new ArgumentException($"chat template input {path}: a JSON string holds an escaped half of a surrogate pair, which is not text");
        }
    }

    private static ArgumentException Unsupported(string path, string what) =>
        new($"chat template input {path}: {what} cannot be passed to a template (use strings, numbers, booleans, null, lists, string-keyed dictionaries or JSON)");

    // text: the integer as given, named in a refusal (its double may be another integer: 2^53 + 1 reads as 2^53).
    private static IntegerValue Integer(double d, string path, string text)
    {
        if (Math.Abs(d) > Values.MaxSafeInteger)
        {
            throw new ArgumentException($"chat template input {path}: integer {text} is beyond ±(2^53 - 1), which the reference cannot represent exactly");
        }
        return new IntegerValue((long)d);
    }

    /// <summary>A JSON number as Python's <c>json.loads</c> types it: a float when written with a fraction or an exponent (<c>1.0</c>, <c>1e3</c>).</summary>
    private static Value JsonNumber(JsonElement e, string path)
    {
        string raw = e.GetRawText();
        return raw.AsSpan().IndexOfAny('.', 'e', 'E') >= 0 ? new FloatValue(e.GetDouble()) : Integer(e.GetDouble(), path, raw);
    }

    private static ArrayValue List(IEnumerable<object?> items, string path, int depth)
    {
        Nest(path, depth);
        return new ArrayValue(items.Select((x, i) => From(x, $"{path}[{i}]", depth + 1)).ToList());
    }

    private static void Nest(string path, int depth)
    {
        if (depth >= Json.MaxDepth)
        {
            throw new ArgumentException(FormattableString.Invariant($"chat template input {path}: lists and mappings nested deeper than {Json.MaxDepth} levels cannot be passed to a template"));
        }
    }

    private static Value FromJson(JsonElement e, string path, int depth) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => NullValue.Instance,
        JsonValueKind.True => BooleanValue.True,
        JsonValueKind.False => BooleanValue.False,
        JsonValueKind.String => new StringValue(Readable(e.GetString, path)!),
        JsonValueKind.Number => JsonNumber(e, path),
        JsonValueKind.Array => List(e.EnumerateArray().Select(x => (object?)x), path, depth),
        JsonValueKind.Object => Mapping(e.EnumerateObject().Select(p => (Readable(() => p.Name, path), (object?)p.Value)), path, depth),
        _ => throw Unsupported(path, $"JSON {e.ValueKind}"),
    };

    internal static ObjectValue Mapping(IEnumerable<(string Key, object? Value)> entries, string path, int depth = 0)
    {
        Nest(path, depth);
        // In the order given, as a Python dict keeps it (a key given twice keeps its first place and its last value).
        var map = new OrderedDictionary<string, Value>(StringComparer.Ordinal);
        foreach ((string key, object? value) in entries)
        {
            map[key] = From(value, $"{path}.{key}", depth + 1);
        }
        return new ObjectValue(map);
    }
}
