using System.Text.Json;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>response_format, which both endpoints take (vLLM takes it on completions too).</summary>
internal static partial class OpenAiRequests
{
    /// <summary>
    /// OpenAI's response_format: <c>{"type": "text"}</c> (as absent), <c>{"type": "json_object"}</c> (JSON mode: the
    /// reply is a JSON object, by constrained decoding) or <c>{"type": "json_schema", "json_schema": {"name": …,
    /// "schema": {…}, "strict": …, "description": …}}</c> (structured outputs: a JSON object valid under the schema; a
    /// schema keyword copal cannot hold a reply to exactly is a 400 naming response_format, the keyword and its place,
    /// from the engine). strict is taken either way: the schema is always held to.
    /// </summary>
    private static (ResponseFormat Format, JsonElement? Schema) Format(JsonElement body)
    {
        if (Field(body, "response_format") is not JsonElement format)
        {
            return (ResponseFormat.Text, null);
        }
        if (format.ValueKind != JsonValueKind.Object || !format.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("response_format", $"response_format must be an object with a string type, e.g. {{\"type\": \"json_object\"}}, got {Actual(format)}");
        }
        // llama.cpp's server takes a schema beside json_object; ignored, the reply would be any object.
        if (Field(format, "schema") is not null)
        {
            throw Unsupported("response_format", "response_format.schema (llama.cpp's schema beside its type) is not supported: give the schema as {\"type\": \"json_schema\", \"json_schema\": {\"name\": …, \"schema\": …}}");
        }
        return type.GetString() switch
        {
            "text" => (ResponseFormat.Text, null),
            "json_object" => (ResponseFormat.JsonObject, null),
            "json_schema" => (ResponseFormat.JsonSchema, Schema(format)),
            _ => throw Unsupported("response_format", $"response_format type {Cut(type.GetRawText())} is not supported: copal takes \"json_schema\" (structured outputs), \"json_object\" (JSON mode, any JSON object) and \"text\""),
        };
    }

    private static JsonElement Schema(JsonElement format)
    {
        if (Field(format, "json_schema") is not JsonElement spec || spec.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("response_format", "response_format.json_schema must be an object with a name and a schema");
        }
        if (Field(spec, "name") is not JsonElement name || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 and <= 64 } n
            || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw OpenAiException.BadRequest("response_format", "response_format.json_schema.name must be a string of 1 to 64 letters, digits, '_' or '-', as OpenAI's API requires");
        }
        if (Field(spec, "strict") is JsonElement strict && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw OpenAiException.BadRequest("response_format", $"response_format.json_schema.strict must be a boolean, got {Actual(strict)}");
        }
        if (Field(spec, "description") is JsonElement description && description.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("response_format", $"response_format.json_schema.description must be a string, got {Actual(description)}");
        }
        if (Field(spec, "schema") is not JsonElement schema)
        {
            throw OpenAiException.BadRequest("response_format", "response_format.json_schema.schema is required: copal holds the reply to a schema, and without one JSON mode (json_object) is what to ask for");
        }
        // The request's document is gone before the engine compiles the schema.
        return schema.Clone();
    }
}
