using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// A Qwen3-Coder argument's raw text as the JSON value vLLM's <c>qwen3_coder</c> parser makes of it, by the type its
/// function's parameters schema gives the parameter. The model writes every value as text; the type says what it was.
/// </summary>
internal static class ParameterValues
{
    private static readonly string[] s_text = ["string", "str", "text", "varchar", "char", "enum"];
    private static readonly string[] s_integer = ["int", "uint", "long", "short", "unsigned"];
    private static readonly string[] s_boolean = ["boolean", "bool", "binary"];

    /// <summary>
    /// The JSON text of <paramref name="raw"/> for the parameter <paramref name="name"/> of a function whose
    /// <c>parameters</c> schema is <paramref name="parameters"/> (null: none given). As vLLM converts it:
    /// a parameter the schema does not declare, or one of a string type, stays text; <c>null</c> (or Python's
    /// <c>None</c>, any case) is null for other types, and for a string type the schema lets be null; an integer type
    /// reads as an integer, a number as a number (integral ones as integers); a boolean is <c>true</c> when the text
    /// is "true" in any case and <c>false</c> otherwise; an object or array reads as JSON. Text that does not read as
    /// its type stays text.
    /// </summary>
    public static string Convert(string raw, string name, JsonElement? parameters)
    {
        if (Declared(parameters, name) is not JsonElement schema)
        {
            return PythonJson.String(raw);
        }
        (string type, bool nullable) = TypeOf(schema);
        bool isNull = raw.Equals("null", StringComparison.OrdinalIgnoreCase) || raw.Equals("none", StringComparison.OrdinalIgnoreCase);
        if (isNull && nullable)
        {
            return "null";
        }
        if (s_text.Contains(type))
        {
            return PythonJson.String(raw);
        }
        if (isNull)
        {
            return "null";
        }
        if (s_integer.Any(type.StartsWith))
        {
            return Integer(raw) ?? PythonJson.String(raw);
        }
        if (type.StartsWith("num", StringComparison.Ordinal) || type.StartsWith("float", StringComparison.Ordinal))
        {
            return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
                ? PythonJson.Number(d) : PythonJson.String(raw);
        }
        if (s_boolean.Contains(type))
        {
            return raw.Equals("true", StringComparison.OrdinalIgnoreCase) ? "true" : "false";
        }
        // Objects, arrays and types vLLM does not name: JSON when the text is JSON (vLLM then tries Python's literal
        // syntax, {'a': True}, which copal does not read), else the text.
        return Json(raw) ?? PythonJson.String(raw);
    }

    // The parameter's own schema, when the function's schema declares it under "properties".
    private static JsonElement? Declared(JsonElement? parameters, string name) =>
        parameters is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty("properties", out JsonElement properties)
            && properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(name, out JsonElement schema)
            ? schema : null;

    // The parameter's type, lower case, and whether it may be null: "type" (a name, or a list of names, the first not
    // "null"), or the first type of "anyOf" that is not "null"; "string" when none is given.
    private static (string Type, bool Nullable) TypeOf(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return ("string", false);
        }
        var types = new List<string>();
        if (schema.TryGetProperty("type", out JsonElement type))
        {
            if (type.ValueKind == JsonValueKind.Array)
            {
                types.AddRange(type.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!));
            }
            else
            {
                types.Add(type.ValueKind == JsonValueKind.String ? type.GetString()! : type.GetRawText());
            }
        }
        else if (schema.TryGetProperty("anyOf", out JsonElement anyOf) && anyOf.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement option in anyOf.EnumerateArray())
            {
                if (option.ValueKind == JsonValueKind.Object && option.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String)
                {
                    types.Add(t.GetString()!);
                }
            }
        }
        types = types.Select(t => t.Trim().ToLowerInvariant()).ToList();
        bool nullable = types.Contains("null");
        return (types.FirstOrDefault(t => t != "null") ?? (nullable ? "null" : "string"), nullable);
    }

    // Python's int(text): spaces around, a sign, decimal digits (single underscores between them); any size.
    private static string? Integer(string raw)
    {
        string text = raw.Trim();
        int at = text.Length > 0 && text[0] is '+' or '-' ? 1 : 0;
        if (at == text.Length || text.EndsWith('_') || text[at] == '_' || text.Contains("__", StringComparison.Ordinal)
            || !text.AsSpan(at).ContainsOnlyDigitsOrUnderscores())
        {
            return null;
        }
        return BigInteger.Parse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
            .ToString(CultureInfo.InvariantCulture);
    }

    private static bool ContainsOnlyDigitsOrUnderscores(this ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c) && c != '_')
            {
                return false;
            }
        }
        return true;
    }

    // The text as JSON, written again as Python writes it; null when it is not one JSON value.
    private static string? Json(string raw)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(raw);
            return PythonJson.Element(document.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
