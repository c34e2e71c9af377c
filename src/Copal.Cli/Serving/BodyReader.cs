using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Copal.Cli.Serving;

/// <summary>
/// Reads requests' bodies whole under the server's <see cref="Budget"/>, and ends a read that the client's leaving or
/// the server's stop cuts short in the answer each calls for. After a burst of large bodies it gives their memory back
/// to the system.
/// </summary>
internal sealed class BodyReader : IDisposable
{
    private readonly IHostApplicationLifetime _lifetime;

    /// <summary>Marks a request whose body was left unread: its connection is closed once it is answered.</summary>
    private static readonly object UnreadBodyKey = new();

    /// <summary>How long an answer to a request whose body was left unread has to leave before its connection closes.</summary>
    private static readonly TimeSpan UnreadBodyGrace = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Once the server has handled no body for a second after a large one: a full collection, which gives the host
    /// back what those bodies left (their buffers, their parses' rows, the arrays their threads took from the shared
    /// pool; <see cref="LargeBodyThread"/>). An idle server allocates nothing, so without it the garbage of a burst
    /// stayed for as long as the server idled. It runs on a timer's thread, off the request's path, though a blocking
    /// collection pauses the server's other threads (a generation's decoding among them) while it runs: so once a
    /// burst is over, not after each body of it (<see cref="CollectionWhenQuiet"/>).
    /// </summary>
    private readonly CollectionWhenQuiet _largeBodiesCollection = new(TimeSpan.FromSeconds(1), TimeProvider.System, static () =>
    {
        // What finalizers let go of (an ended thread's leftovers among them) is freed by the second collection,
        // which, aggressive, also gives the freed memory back to the system rather than keep it for the heap.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    });

    public BodyReader(long budget, IHostApplicationLifetime lifetime)
    {
        Budget = new BodyBudget(budget, afterLarge: _largeBodiesCollection.Ask);
        _lifetime = lifetime;
    }

    /// <summary>The bodies being parsed and handled, and those waiting to be.</summary>
    public BodyBudget Budget { get; }

    /// <summary>
    /// Whether a Content-Encoding value leaves the body as it is: a comma-separated list (a header sent on several
    /// lines arrives as one) of case-insensitive codings, each identity or empty (RFC 9110 asks recipients to ignore
    /// empty list elements). "identity, identity" was refused as a coding the server does not decode.
    /// </summary>
    internal static bool NamesNoCoding(string contentEncoding) =>
        contentEncoding.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .All(coding => coding.Equals("identity", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The request's body, read whole, and its lease of <see cref="Budget"/>, which the caller holds while it parses
    /// and handles the body (<see cref="RequestBody.HandleAsync{T}(Func{System.Text.Json.JsonElement, T})"/>): a body read whole waits there, first in first out,
    /// until it fits (the client gone or the server stopping end the wait). A body still arriving when the server stops
    /// is not waited for (a client that sends slowly would hold the stop until the host's shutdown timeout): its request
    /// gets the 503 of a stopping server, and its connection is closed.
    /// </summary>
    public async Task<(RequestBody Body, BodyBudget.Lease Budget)> ReadAsync(HttpContext context)
    {
        // A coding the server does not decode (RFC 9110: 415): ignored, gzip's bytes were answered "not valid JSON at
        // line 1, byte 1", and a JSON body labelled gzip was read as JSON.
        string coding = context.Request.Headers.ContentEncoding.ToString().Trim();
        if (!NamesNoCoding(coding))
        {
            throw new OpenAiException(415, $"Content-Encoding '{coding}' is not supported; send the body uncompressed");
        }
        var body = new RequestBody();
        CancellationToken stopping = _lifetime.ApplicationStopping;
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            await body.ReadFromAsync(context.Request.Body, context.Request.ContentLength, reading.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            // The rest of the body is not read: the connection cannot serve another request after this answer.
            context.Response.Headers.Connection = "close";
            context.Items[UnreadBodyKey] = true;
            throw OpenAiErrors.ServerStopping();
        }
        catch (Exception e) when (ConnectionEnded(e, context.Request.ContentLength, body.Length))
        {
            throw new ClientLeftException("the client went away before its request's body was complete", e);
        }
        try
        {
            return (body, await Budget.TakeAsync(body.Length, reading.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            throw OpenAiErrors.ServerStopping();
        }
    }

    /// <summary>
    /// Once an error is answered: where <see cref="ReadAsync"/> left the request's body unread, its connection is closed.
    /// </summary>
    public static async Task CloseIfUnreadAsync(HttpContext context)
    {
        if (context.Items.ContainsKey(UnreadBodyKey))
        {
            // Kestrel drains an unread body after the answer, "Connection: close" or not, and while the server
            // stops nothing bounds that drain: a client still sending held the stop until the host's shutdown
            // timeout (in 5 to 9 of 20 tries here). The connection is closed instead. Closing it with the
            // client's bytes unread resets it, and a reset can overtake an answer not yet sent: a short grace
            // lets the answer go first, which a client then reads before the reset, as a rule, not always.
            await context.Response.CompleteAsync().ConfigureAwait(false);
            await Task.Delay(UnreadBodyGrace).ConfigureAwait(false);
            context.Abort();
        }
    }

    /// <summary>
    /// Whether a body's read failed because the client's connection ended, so no one is left to answer: a reset
    /// (an IOException that is not one of Kestrel's refusals, whatever the body's framing: a chunked body's reset was
    /// answered as a bug of ours, a 500 with a stack trace in the server's log), or the end of the stream before the
    /// body's end (Kestrel's 400 "unexpected end of request content"). Kestrel's refusals are IOExceptions too (its
    /// BadHttpRequestException derives from one) and go to the client with their status: a length past the server's
    /// limit is a 413 before a byte of the body is read, a chunk that is not one a 400 of its own.
    /// </summary>
    private static bool ConnectionEnded(Exception e, long? announced, long read) => e is BadHttpRequestException bad
        ? bad.StatusCode == 400 && (announced is long length ? read < length : IsUnexpectedEnd(bad))
        : e is IOException;

    /// <summary>
    /// Whether Kestrel's 400 says the stream ended inside the body. A chunked body has no length to fall short of, and
    /// the reason Kestrel gives is internal to it, so its message tells this 400 from those of a malformed chunk: a
    /// client that closed during a chunked body was counted as an error unless Kestrel noticed the close first.
    /// </summary>
    private static bool IsUnexpectedEnd(BadHttpRequestException bad) =>
        bad.Message.StartsWith("Unexpected end of request content", StringComparison.Ordinal);

    public void Dispose() => _largeBodiesCollection.Dispose();
}
