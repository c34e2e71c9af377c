using System.Text.Json;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>response_format, which both endpoints take (vLLM takes it on completions too).</summary>
internal static partial class OpenAiRequests
{
    /// <summary>
    /// OpenAI's response_format: <c>{"type": "text"}</c> (as absent) or <c>{"type": "json_object"}</c> (JSON mode: the
    /// reply is a JSON object, by constrained decoding). A schema (<c>json_schema</c>) is refused, never ignored: the
    /// reply would be JSON but not of the schema.
    /// </summary>
    private static ResponseFormat Format(JsonElement body)
    {
        if (Field(body, "response_format") is not JsonElement format)
        {
            return ResponseFormat.Text;
        }
        if (format.ValueKind != JsonValueKind.Object || !format.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("response_format", $"response_format must be an object with a string type, e.g. {{\"type\": \"json_object\"}}, got {Actual(format)}");
        }
        return type.GetString() switch
        {
            "text" => ResponseFormat.Text,
            "json_object" => ResponseFormat.JsonObject,
            _ => throw Unsupported("response_format", $"response_format type {Cut(type.GetRawText())} is not supported: copal takes \"json_object\" (JSON mode, any JSON object) and \"text\""),
        };
    }
}
