using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Copal.Cli.Serving;

/// <summary>
/// The first step of every request: whatever the endpoints throw, and the 404 and 405 of routing, become OpenAI's
/// error answer (<see cref="OpenAiErrors"/>), counted; a client that went away is counted as aborted, with no answer.
/// </summary>
internal sealed class ErrorMiddleware(RequestCounts counts)
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
            if (context.Response.StatusCode == 404 && !context.Response.HasStarted)
            {
                throw new OpenAiException(404, $"unknown URL {context.Request.Method} {context.Request.Path}; the endpoints are POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /v1/models/{{id}}, GET /health, GET /metrics, GET /tokenizer_info, POST /tokenize and POST /detokenize");
            }
            if (context.Response.StatusCode == 405 && !context.Response.HasStarted)
            {
                throw new OpenAiException(405, $"{context.Request.Method} is not allowed on {context.Request.Path}");
            }
        }
        catch (Exception e) when ((e is OperationCanceledException && context.RequestAborted.IsCancellationRequested) || e is ClientLeftException)
        {
            // The client went away; its generation is already cancelled.
            counts.CountAborted();
        }
        catch (Exception e)
        {
            await WriteErrorAsync(context, e).ConfigureAwait(false);
            await BodyReader.CloseIfUnreadAsync(context).ConfigureAwait(false);
        }
    }

    private async Task WriteErrorAsync(HttpContext context, Exception e)
    {
        counts.CountError();
        (int status, JsonObject body) = OpenAiErrors.ErrorObject(e, chat: context.Request.Path.StartsWithSegments("/v1/chat/completions", StringComparison.Ordinal));
        OpenAiErrors.ReportBug(context, status, e);
        if (context.Response.HasStarted)
        {
            // Its status is sent (a large answer starts before it is written): no error answer can replace it. The
            // connection is ended, as Kestrel ends it for any failure after the start, so that the client sees the
            // answer broken (no last chunk); returning would end the body cleanly, a 200 cut off mid-JSON.
            context.Abort();
            return;
        }
        // A 405 must say which methods the URL takes (RFC 9110); routing set Allow, and Clear would drop it. A
        // "Connection: close" set where a body was left unread stays too: the client learns the connection ends.
        Microsoft.Extensions.Primitives.StringValues allow = context.Response.Headers.Allow;
        Microsoft.Extensions.Primitives.StringValues connection = context.Response.Headers.Connection;
        context.Response.Clear();
        if (status == 405)
        {
            context.Response.Headers.Allow = allow;
        }
        context.Response.Headers.Connection = connection;
        await JsonResponses.WriteAsync(context, status, body).ConfigureAwait(false);
    }
}
