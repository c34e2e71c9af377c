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
    /// <remarks>
    /// A long text among its fields (a /detokenize's) is written in segments of <see cref="TextSegment"/> characters,
    /// with the same bytes: written whole, the writer asked the response for room for all of it at once (3 bytes a
    /// character, 18 where one needs escaping), which the server's pipe, its pooled blocks being 4 KB, rented from the
    /// shared pool (32 MB for 7.5 M characters) and returned on the thread that sent it, where the pool kept it for as
    /// long as the server idled.
    /// </remarks>
    public static void Write(IBufferWriter<byte> output, JsonObject body)
    {
        using var writer = new Utf8JsonWriter(output, s_writer);
        writer.WriteStartObject();
        foreach ((string name, JsonNode? value) in body)
        {
            writer.WritePropertyName(name);
            if (value is JsonValue v && v.TryGetValue(out string? text) && text.Length > TextSegment)
            {
                WriteInSegments(writer, text);
            }
            else if (value is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                value.WriteTo(writer, s_json);
            }
        }
        writer.WriteEndObject();
    }

    /// <summary>
    /// The characters of a long text written at once: the writer asks room for 18 bytes a character where one needs
    /// escaping (6 characters of escape, 3 bytes each), which keeps it within the 4 KB it asks for anyway.
    /// </summary>
    internal const int TextSegment = 200;

    private static void WriteInSegments(Utf8JsonWriter writer, string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            int length = Math.Min(TextSegment, text.Length - start);
            // A surrogate pair is kept in one segment (the writer would carry half of one over, but need not).
            if (start + length < text.Length && char.IsHighSurrogate(text[start + length - 1]))
            {
                length--;
            }
            writer.WriteStringValueSegment(text.AsSpan(start, length), isFinalSegment: start + length == text.Length);
            start += length;
        }
    }
}
