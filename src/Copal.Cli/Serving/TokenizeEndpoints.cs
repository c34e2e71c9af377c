using System.Text.Json;
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
        app.MapPost("/tokenize", async c =>
        {
            (RequestBody body, BodyBudget.Lease budget) = await bodies.ReadAsync(c).ConfigureAwait(false);
            await AnswerLargeAsync(c, body, budget, json => OpenAiRequests.Tokenize(json, engine, c.RequestAborted)).ConfigureAwait(false);
        });
        app.MapPost("/detokenize", async c =>
        {
            (RequestBody body, BodyBudget.Lease budget) = await bodies.ReadAsync(c).ConfigureAwait(false);
            await AnswerLargeAsync(c, body, budget, json => OpenAiRequests.Detokenize(json, engine)).ConfigureAwait(false);
        });
    }

    /// <summary>
    /// A 200 whose JSON is as large as its request's body (a /tokenize's ids, a /detokenize's text), made by
    /// <paramref name="answer"/> and written as UTF-8 into the response's own buffers, where the body is handled (a
    /// large one's on its own thread, <see cref="RequestBody.HandleAsync"/>): the same bytes as
    /// <see cref="JsonResponses.WriteAsync(HttpContext, int, JsonObject)"/>. The body's budget goes back once the answer
    /// is written there, before its client has read it: the parse's memory and the answer's ids or text are garbage by
    /// then, for the collection after a large body, and a client slow to read (32 KB a second) had held every other
    /// request with a body behind it for the twenty minutes of a 30 MB /tokenize's answer.
    /// </summary>
    private static async Task AnswerLargeAsync(HttpContext context, RequestBody body, BodyBudget.Lease budget, Func<JsonElement, JsonObject> answer)
    {
        using (budget)
        {
            await body.HandleAsync(json =>
            {
                JsonObject made = answer(json);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                // The headers first, so the answer is written where it is sent from: written before them, the server
                // keeps it in buffers of its own and copies it into the connection's at the flush, two copies at once
                // in its pooled blocks, which its pool then kept (63 MB after a 30 MB /tokenize). Starting only adds
                // the headers to the connection's buffers; nothing waits for the client here.
                context.Response.StartAsync().GetAwaiter().GetResult();
                JsonResponses.Write(context.Response.BodyWriter, made);
                return true;
            }).ConfigureAwait(false);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
