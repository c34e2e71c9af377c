using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// JSON text as Python's <c>json.dumps(value, ensure_ascii=False)</c> writes it, the form vLLM gives the arguments of
/// calls it builds itself (Qwen3-Coder's), and the text a Python user gives a tool message for a function's result: <c>", "</c> between items, <c>": "</c> after keys, characters past ASCII as
/// they are, and a float as Python's <c>repr</c>, so a client sees the same text from copal as from vLLM.
/// </summary>
internal static class PythonJson
{
    /// <summary>A string as a JSON string: quotes, backslashes and control characters escaped, nothing else.</summary>
    public static string String(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c < ' ')
                    {
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }
                    break;
            }
        }
        return text.Append('"').ToString();
    }

    /// <summary>
    /// A finite number as Python writes the value vLLM makes of it: an integral one as an integer (vLLM turns
    /// <c>3.0</c> into <c>3</c>), any other as the shortest text that reads back to it (<c>0.1</c>, <c>1e-05</c>).
    /// </summary>
    public static string Number(double value)
    {
        if (value == Math.Floor(value))
        {
            return new BigInteger(value).ToString(CultureInfo.InvariantCulture);
        }
        // .NET's shortest round-trip text switches to an exponent where Python's repr does (below 1e-4; a fraction
        // is never as large as 1e16), and writes it as "1E-05" where Python writes "1e-05".
        return value.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
    }

    /// <summary>
    /// A parsed JSON value written again with Python's separators; numbers keep the text the model wrote (Python would
    /// write <c>1E2</c> as <c>100.0</c>: the value is the same).
    /// </summary>
    public static string Element(JsonElement element)
    {
        var text = new StringBuilder();
        Write(element, text);
        return text.ToString();
    }

    private static void Write(JsonElement element, StringBuilder text)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
            {
                text.Append('{');
                bool first = true;
                foreach (JsonProperty p in element.EnumerateObject())
                {
                    text.Append(first ? "" : ", ").Append(String(p.Name)).Append(": ");
                    Write(p.Value, text);
                    first = false;
                }
                text.Append('}');
                break;
            }
            case JsonValueKind.Array:
            {
                text.Append('[');
                bool first = true;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    text.Append(first ? "" : ", ");
                    Write(item, text);
                    first = false;
                }
                text.Append(']');
                break;
            }
            case JsonValueKind.String:
                text.Append(String(element.GetString()!));
                break;
            default:
                text.Append(element.GetRawText());
                break;
        }
    }
}
