using System.Text.Json.Nodes;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Copal.Cli.Serving;

/// <summary>
/// POST /v1/completions and /v1/chat/completions: a request's choices (n per prompt, and completions' several prompts)
/// are engine requests of their own, decoded side by side, answered whole or as server-sent events ("stream": true).
/// A client that disconnects cancels its generations, and so does the server's stop, whose client still gets a 503,
/// or an error event on a stream.
/// </summary>
internal sealed class GenerationEndpoints(InferenceEngine engine, IChatFormatter formatter, bool splitReasoning, ToolCallReading toolCalls,
    BodyReader bodies, RequestCounts counts, IHostApplicationLifetime lifetime)
{
    /// <summary>
    /// Once the server stops, how long an answer still being written may take to reach its client: the end of a
    /// generation the stop cancelled (a 503, or a stream's error event and [DONE]) goes out in milliseconds to a client
    /// that reads. A client that stopped reading would hold the stop until the host's shutdown timeout; its connection
    /// is aborted instead.
    /// </summary>
    internal static readonly TimeSpan StopWriteGrace = TimeSpan.FromSeconds(5);

    public void Map(WebApplication app)
    {
        app.MapPost("/v1/completions", c => GenerateAsync(c, chat: false));
        app.MapPost("/v1/chat/completions", c => GenerateAsync(c, chat: true));
    }

    private async Task GenerateAsync(HttpContext context, bool chat)
    {
        CancellationToken aborted = context.RequestAborted;
        (RequestBody body, BodyBudget.Lease budget) = await bodies.ReadAsync(context).ConfigureAwait(false);
        OpenAiRequest request;
        OpenAiChoice[] choices;
        // The body's budget covers its parse, its check and its prompts' encoding, not the generation, whose memory
        // the engine bounds (its slots and their caches).
        using (budget)
        {
            // Every prompt is checked before any choice starts: a bad one refuses the request, and nothing is decoded.
            (request, choices) = await (chat
                ? body.HandleAsync(json => Choices(OpenAiRequests.Chat(json, engine, formatter, toolCalls)))
                // Completions' prompt of token ids is read apart from the body's document (TokenIdArrays): a 30 MB body of
                // 7.5 million one-token prompts took 0.85 GB as a document, for the 400 its count gets.
                : body.HandleAsync("prompt", nestedAllowed: true, (json, ids) => Choices(OpenAiRequests.Completion(json, engine, ids)))).ConfigureAwait(false);
            (OpenAiRequest, OpenAiChoice[]) Choices(OpenAiRequest read) => (read, OpenAiChoices.Of(read, engine, chat, splitReasoning, aborted));
        }
        counts.CountGeneration();
        // The generation ends when the client goes away or the server stops. Kestrel only aborts the requests still
        // running when the host's shutdown timeout (30 s) is over, so stopping has to reach the engine itself.
        CancellationToken stopping = lifetime.ApplicationStopping;
        using var generation = CancellationTokenSource.CreateLinkedTokenSource(aborted, stopping);
        // The answer's writes end when the client goes away, or when the grace after a stop runs out (StopWriteGrace).
        using var writes = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        // Disposed before writes (declared after it), so a stop that comes as the request ends never touches a disposed source.
        using CancellationTokenRegistration cutOff = stopping.Register(() => writes.CancelAfter(StopWriteGrace));
        try
        {
            await AnswerAsync(context, chat, request, choices, generation.Token, writes.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (writes.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            // The server is stopping and the client did not take the end of its answer in time: its connection is
            // aborted, so it sees a broken answer, never one that looks whole.
            context.Abort();
            throw new ClientLeftException("the client did not take its answer within the grace after the server's stop", e);
        }
    }

    /// <summary>
    /// Runs <paramref name="choices"/> and writes their answer, whole or as server-sent events: the generations end
    /// with <paramref name="generation"/> (the client gone, the server stopping), the writes with <paramref name="writes"/>.
    /// </summary>
    private async Task AnswerAsync(HttpContext context, bool chat, OpenAiRequest request, OpenAiChoice[] choices, CancellationToken generation, CancellationToken writes)
    {
        CancellationToken aborted = context.RequestAborted;
        CancellationToken stopping = lifetime.ApplicationStopping;
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        string obj = chat ? (request.Stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // Cancelled by the stop, not by the client: the client is still there to be told.
        bool Stopped(Exception e) => e is OperationCanceledException && stopping.IsCancellationRequested && !aborted.IsCancellationRequested;
        // The choices start together, so the engine decodes them side by side; their chunks come interleaved. Disposing
        // the stream (the client gone, a choice failed) cancels every choice still running.
        ChoiceStream chunks = ChoiceStream.Start(choices.Length, (i, token) => engine.StreamAsync(choices[i].Run, token), generation);
        await using (chunks.ConfigureAwait(false))
        {
            // The first chunk comes after a prefill: a failure there (the device out of memory) still gets its status.
            bool any;
            try
            {
                any = await chunks.MoveNextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (Stopped(e))
            {
                throw OpenAiErrors.ServerStopping();
            }
            if (!request.Stream)
            {
                try
                {
                    while (any)
                    {
                        choices[chunks.Current.Index].Gather(chunks.Current.Chunk);
                        any = await chunks.MoveNextAsync().ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (Stopped(e))
                {
                    throw OpenAiErrors.ServerStopping();
                }
                await JsonResponses.WriteAsync(context, 200, Envelope(id, obj, created, choices.Select(c => c.Whole()), OpenAiChoices.Usage(choices)), writes).ConfigureAwait(false);
                return;
            }
            context.Response.StatusCode = 200;
            // The charset named, as OpenAI's and vLLM's streams name it: text/* without one is ISO-8859-1 to clients
            // that follow HTTP/1.1's old default (Python's requests), which garbled every non-ASCII character.
            context.Response.ContentType = "text/event-stream; charset=utf-8";
            context.Response.Headers.CacheControl = "no-cache";
            try
            {
                while (any)
                {
                    foreach (JsonObject piece in choices[chunks.Current.Index].Stream(chunks.Current.Chunk))
                    {
                        // Usage in every chunk's envelope only at the end, and only when asked (stream_options.include_usage), as OpenAI does.
                        await JsonResponses.SendEventAsync(context, Envelope(id, obj, created, [piece], null, request.IncludeUsage), writes).ConfigureAwait(false);
                    }
                    any = await chunks.MoveNextAsync().ConfigureAwait(false);
                }
                if (request.IncludeUsage)
                {
                    await JsonResponses.SendEventAsync(context, Envelope(id, obj, created, [], OpenAiChoices.Usage(choices)), writes).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || (Stopped(e) && !writes.IsCancellationRequested))
            {
                // Headers are sent: the error goes out as an event, in the same shape (unless the writes were cut off).
                counts.CountError();
                (int status, JsonObject error) = OpenAiErrors.ErrorObject(Stopped(e) ? OpenAiErrors.ServerStopping() : e, chat);
                OpenAiErrors.ReportBug(context, status, e);
                await JsonResponses.SendEventAsync(context, error, writes).ConfigureAwait(false);
            }
            await context.Response.WriteAsync("data: [DONE]\n\n", writes).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(writes).ConfigureAwait(false);
        }
    }

    /// <summary>The response object around choices; none gives OpenAI's usage-only last chunk.</summary>
    private JsonObject Envelope(string id, string obj, long created, IEnumerable<JsonObject> choices, CompletionUsage? usage, bool nullUsage = false)
    {
        var o = new JsonObject
        {
            ["id"] = id,
            ["object"] = obj,
            ["created"] = created,
            ["model"] = engine.ModelId,
            ["choices"] = new JsonArray([.. choices]),
        };
        if (usage is not null)
        {
            o["usage"] = new JsonObject
            {
                ["prompt_tokens"] = usage.PromptTokens,
                ["completion_tokens"] = usage.CompletionTokens,
                ["total_tokens"] = usage.TotalTokens,
                // OpenAI's shape for the prompt tokens its cache held (vLLM's too, with its prefix caching).
                ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CachedPromptTokens },
            };
        }
        else if (nullUsage)
        {
            o["usage"] = null;
        }
        return o;
    }
}
