using System.Text.Json.Nodes;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Copal.Cli.Serving;

/// <summary>POST /tokenize and /detokenize (vLLM's): a text's token ids, and ids' text, by the served model's tokenizer.</summary>
internal sealed class TokenizeEndpoints(InferenceEngine engine, BodyReader bodies)
{
    public void Map(WebApplication app)
    {
        // The answer is written under the body's budget too: its ids, or its text, are in proportion to the body
        // (the budget goes back once they are written, before the client has read them; see AnswerLargeAsync).
        app.MapPost("/tokenize", TokenizeAsync);
        app.MapPost("/detokenize", DetokenizeAsync);
    }

    private async Task TokenizeAsync(HttpContext c)
    {
        (RequestBody body, BodyBudget.Lease budget) = await bodies.ReadAsync(c).ConfigureAwait(false);
        await AnswerLargeAsync(c, budget, () => body.HandleAsync(json => Write(c, OpenAiRequests.Tokenize(json, engine, c.RequestAborted)))).ConfigureAwait(false);
    }

    private async Task DetokenizeAsync(HttpContext c)
    {
        (RequestBody body, BodyBudget.Lease budget) = await bodies.ReadAsync(c).ConfigureAwait(false);
        // Its ids are read apart from the body's document (TokenIdArrays), which took 12 bytes a JSON token of them.
        await AnswerLargeAsync(c, budget, () => body.HandleAsync("tokens", nestedAllowed: false,
            (json, ids) => Write(c, OpenAiRequests.Detokenize(json, engine, ids)))).ConfigureAwait(false);
    }

    /// <summary>
    /// A 200 whose JSON is as large as its request's body (a /tokenize's ids, a /detokenize's text), made and written
    /// by <paramref name="handle"/> (<see cref="Write"/>) where the body is handled (a large one's on its own thread,
    /// <see cref="RequestBody.HandleAsync{T}(Func{System.Text.Json.JsonElement, T})"/>). The body's budget goes back
    /// once the answer is written into the response's buffers, before its client has read it: the parse's memory and
    /// the answer's ids or text are garbage by then, for the collection after a large body, and a client slow to read
    /// (32 KB a second) had held every other request with a body behind it for the twenty minutes of a 30 MB
    /// /tokenize's answer.
    /// </summary>
    private static async Task AnswerLargeAsync(HttpContext context, BodyBudget.Lease budget, Func<Task> handle)
    {
        using (budget)
        {
            await handle().ConfigureAwait(false);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="answer"/> as a 200, written as UTF-8 into the response's own buffers: the same bytes as
    /// <see cref="JsonResponses.WriteAsync(HttpContext, int, JsonObject)"/>. True, for the handler's result.
    /// </summary>
    private static bool Write(HttpContext context, JsonObject answer)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        // The headers first, so the answer is written where it is sent from: written before them, the server
        // keeps it in buffers of its own and copies it into the connection's at the flush, two copies at once
        // in its pooled blocks, which its pool then kept (63 MB after a 30 MB /tokenize). Starting only adds
        // the headers to the connection's buffers; nothing waits for the client here.
        context.Response.StartAsync().GetAwaiter().GetResult();
        JsonResponses.Write(context.Response.BodyWriter, answer);
        return true;
    }
}
