using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Copal.Cli.Serving;

/// <summary>
/// How the server writes its JSON: a whole answer with its status, an answer as large as its request's body straight
/// into the response's buffers, and a stream's server-sent events. All in Copal's one JSON setting (CopalJson):
/// unescaped text, never NaN.
/// </summary>
internal static class JsonResponses
{
    private static readonly JsonSerializerOptions s_json = Infrastructure.Out.CompactJsonOptions;

    private static readonly JsonWriterOptions s_writer = new() { Encoder = s_json.Encoder, Indented = s_json.WriteIndented };

    /// <summary>Writes <paramref name="body"/> as the answer, with <paramref name="status"/>, until the client goes away.</summary>
    public static Task WriteAsync(HttpContext context, int status, JsonObject body) => WriteAsync(context, status, body, context.RequestAborted);

    /// <summary>Writes <paramref name="body"/> as the answer, with <paramref name="status"/>, until <paramref name="cancellationToken"/>.</summary>
    public static Task WriteAsync(HttpContext context, int status, JsonObject body, CancellationToken cancellationToken)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(s_json), cancellationToken);
    }

    /// <summary>Sends <paramref name="data"/> as one server-sent event, flushed so the client has it at once.</summary>
    public static async Task SendEventAsync(HttpContext context, JsonObject data, CancellationToken cancellationToken)
    {
        await context.Response.WriteAsync("data: " + data.ToJsonString(s_json) + "\n\n", cancellationToken).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="body"/> as UTF-8 JSON, the bytes <see cref="JsonNode.ToJsonString"/> gives under the settings
    /// (whose writer is compact with the settings' encoder), written as they come: a text of the answer (UTF-16, twice
    /// its bytes) and that text's encoding took 3× a large answer, 34 MB of ids for a /tokenize of 30 MB.
    /// </summary>
    public static void Write(IBufferWriter<byte> output, JsonObject body)
    {
        using var writer = new Utf8JsonWriter(output, s_writer);
        body.WriteTo(writer, s_json);
    }
}
