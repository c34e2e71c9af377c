using System.Text.Json;

namespace Copal.Model.Tokenization;

/// <summary>
/// Typed access to one object of tokenizer.json that knows its file and path, so every error names both.
/// </summary>
internal readonly struct JsonSection
{
    public JsonSection(JsonElement element, string file, string path)
    {
        Element = element;
        File = file;
        Path = path;
    }

    public JsonElement Element { get; }
    public string File { get; }
    public string Path { get; }

    public TokenizerException Error(string message) => new($"{File}: {Path}: {message}");

    public bool Has(string name) =>
        Element.ValueKind == JsonValueKind.Object && Element.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null;

    public JsonSection Child(string name)
    {
        if (Element.ValueKind != JsonValueKind.Object || !Element.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Error($"missing required field '{name}'");
        }
        return new JsonSection(v, File, $"{Path}.{name}");
    }

    public JsonSection? OptionalChild(string name) => Has(name) ? Child(name) : null;

    public IEnumerable<JsonSection> Items()
    {
        if (Element.ValueKind != JsonValueKind.Array)
        {
            throw Error($"expected an array, found {Element.ValueKind}");
        }
        int i = 0;
        foreach (JsonElement item in Element.EnumerateArray())
        {
            yield return new JsonSection(item, File, $"{Path}[{i++}]");
        }
    }

    public string String(string name)
    {
        JsonSection c = Child(name);
        return c.Element.ValueKind == JsonValueKind.String ? c.Element.GetString()! : throw c.Error($"expected a string, found {c.Element.ValueKind}");
    }

    public string? OptionalString(string name) => Has(name) ? String(name) : null;

    public bool Bool(string name, bool defaultValue)
    {
        if (!Has(name))
        {
            return defaultValue;
        }
        JsonElement v = Element.GetProperty(name);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"field '{name}' must be true or false, found {v.ValueKind}"),
        };
    }

    public int Int(string name, int defaultValue)
    {
        if (!Has(name))
        {
            return defaultValue;
        }
        JsonElement v = Element.GetProperty(name);
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) ? x : throw Error($"field '{name}' must be an integer, found {v}");
    }

    /// <summary>The component's "type" tag.</summary>
    public string Type => String("type");

    /// <summary>A single character field (replacement, content) given as a one-code-point string.</summary>
    public string Char(string name, string defaultValue)
    {
        string s = OptionalString(name) ?? defaultValue;
        if (s.Length == 0 || (s.Length > 1 && !(s.Length == 2 && char.IsSurrogatePair(s[0], s[1]))))
        {
            throw Error($"field '{name}' must be one character, found \"{s}\"");
        }
        return s;
    }
}
