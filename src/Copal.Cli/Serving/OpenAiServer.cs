using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Copal.Cli.Serving;

/// <summary>
/// The OpenAI-compatible HTTP API over an <see cref="InferenceEngine"/> on ASP.NET Core (Kestrel):
/// POST /v1/completions and /v1/chat/completions (server-sent events with "stream": true), GET /v1/models and
/// /health. A request's choices (n per prompt, and completions' several prompts) are engine requests of their own,
/// decoded side by side. Errors use OpenAI's JSON shape and HTTP status. A client that disconnects cancels its
/// generations (RequestAborted reaches the engine, which drops each sequence at its next step). So does stopping the server
/// (Ctrl-C, SIGTERM, <see cref="DisposeAsync"/>): every generation in flight ends at its next step and its client gets
/// a 503, or an error event on a stream, instead of waiting for the host's shutdown timeout.
/// </summary>
internal sealed class OpenAiServer : IAsyncDisposable
{
    // Copal's one JSON setting (CopalJson): unescaped text, never NaN.
    private static readonly JsonSerializerOptions s_json = Infrastructure.Out.CompactJsonOptions;
    private readonly WebApplication _app;
    private readonly InferenceEngine _engine;
    private readonly IChatFormatter _formatter;
    private readonly bool _splitReasoning;
    private readonly ToolCallReading _toolCalls;
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>
    /// The bytes of request bodies parsed and handled at once by default: one body at Kestrel's limit (30,000,000
    /// bytes), which peaks under 1 GB (<see cref="BodyBudget"/>); bodies of a few kilobytes, a chat's, go side by side
    /// by the thousand.
    /// </summary>
    internal const long DefaultBodyBudget = 30_000_000;

    /// <summary>The bodies being parsed and handled, and those waiting to be.</summary>
    internal BodyBudget Bodies { get; }

    /// <summary>
    /// Once the server stops, how long an answer still being written may take to reach its client: the end of a
    /// generation the stop cancelled (a 503, or a stream's error event and [DONE]) goes out in milliseconds to a client
    /// that reads. A client that stopped reading would hold the stop until the host's shutdown timeout; its connection
    /// is aborted instead.
    /// </summary>
    internal static readonly TimeSpan StopWriteGrace = TimeSpan.FromSeconds(5);

    private OpenAiServer(WebApplication app, InferenceEngine engine, IChatFormatter formatter, bool splitReasoning, ToolCallReading toolCalls, long bodyBudget)
    {
        Bodies = new BodyBudget(bodyBudget, afterLarge: _largeBodiesCollection.Ask);
        _app = app;
        _engine = engine;
        _formatter = formatter;
        _splitReasoning = splitReasoning;
        _toolCalls = toolCalls;
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8080 (the real port when 0 was asked).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Requests whose client went away before the answer was complete (their generation is cancelled).</summary>
    public long Aborted => Interlocked.Read(ref _aborted);

    private long _aborted;

    /// <summary>Generation requests (completions and chat) whose choices were started, however many each had.</summary>
    public long Generations => Interlocked.Read(ref _generations);

    private long _generations;

    /// <summary>Requests answered with an error status.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    private long _errors;

    /// <summary>
    /// Starts listening on <paramref name="host"/>:<paramref name="port"/> (0: a free port). <paramref name="host"/> is
    /// an IP address or localhost, which listens on the IPv4 and (where the machine has it) the IPv6 loopback.
    /// With <paramref name="splitReasoning"/>, a chat reply's <c>&lt;think&gt;</c> block is answered apart, in
    /// <c>reasoning_content</c> (<see cref="ThinkTagSplitter"/>), as vLLM's <c>--reasoning-parser</c> does.
    /// With <paramref name="toolCalls"/>, chat requests may offer tools, whose calls are read from the replies in its
    /// format; without, a request that offers tools is refused with its reason.
    /// </summary>
    public static async Task<OpenAiServer> StartAsync(InferenceEngine engine, string host, int port, IChatFormatter? formatter = null, bool splitReasoning = false,
        ToolCallReading? toolCalls = null, long bodyBudget = DefaultBodyBudget, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        // Kestrel refuses localhost with port 0, since each loopback would get its own free port. Copal picks one port
        // free on both instead; if another process takes it before Kestrel binds it, it picks again.
        bool pickPort = host == "localhost" && port == 0;
        for (int attempt = 1; ; attempt++)
        {
            int listenPort = pickPort ? FreeLocalhostPort() : port;
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "copal" });
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton<IHostLifetime, OwnerStoppedLifetime>();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                if (host == "localhost")
                {
                    k.ListenLocalhost(listenPort);
                }
                else
                {
                    k.Listen(IPAddress.Parse(host), listenPort);
                }
            });
            WebApplication app = builder.Build();
            var server = new OpenAiServer(app, engine, formatter ?? PlainChatFormatter.Instance, splitReasoning, toolCalls ?? ToolCallReading.Off, bodyBudget);
            server.Map();
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException) when (pickPort && attempt < 3)
            {
                await app.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.Address = new Uri(address.Replace("[::]", "localhost", StringComparison.Ordinal));
            return server;
        }
    }

    /// <summary>A port free on 127.0.0.1 and, where the machine has an IPv6 loopback, on [::1] as well.</summary>
    private static int FreeLocalhostPort()
    {
        for (int attempt = 1; ; attempt++)
        {
            using var v4 = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            v4.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)v4.LocalEndPoint!).Port;
            if (!Socket.OSSupportsIPv6)
            {
                return port;
            }
            try
            {
                using var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                v6.Bind(new IPEndPoint(IPAddress.IPv6Loopback, port));
                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 20)
            {
                // Free on IPv4 only: try another.
            }
            catch (SocketException)
            {
                // No IPv6 loopback here (Kestrel then listens on IPv4 alone, as for a fixed port), or no port free on
                // both after many tries (Kestrel's bind then fails and says so).
                return port;
            }
        }
    }

    /// <summary>Waits until the server stops (<paramref name="cancellationToken"/> stops it).</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    private void Map()
    {
        _app.Use(async (HttpContext context, RequestDelegate next) =>
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
                Interlocked.Increment(ref _aborted);
            }
            catch (Exception e)
            {
                await WriteErrorAsync(context, e).ConfigureAwait(false);
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
        });
        // 503 once a failed forward pass has ended the engine's decoding: it refuses every request from then on.
        // GET and HEAD, as health checkers and caches probe with either.
        string[] reads = [HttpMethods.Get, HttpMethods.Head];
        _app.MapMethods("/health", reads, (HttpContext c) => _engine.Fault is not null
            ? WriteJsonAsync(c, 503, new JsonObject
            {
                ["status"] = "error",
                ["model"] = _engine.ModelId,
                ["error"] = "the engine stopped decoding after an internal error and takes no more requests; see the server's log",
            })
            : WriteJsonAsync(c, 200, new JsonObject
            {
                ["status"] = "ok",
                ["model"] = _engine.ModelId,
                ["parallel"] = _engine.Options.Parallel,
                ["prefix_cache"] = _engine.Options.PrefixCache,
                ["active"] = _engine.Statistics.Active,
            }));
        _app.MapMethods("/metrics", reads, (HttpContext c) =>
        {
            c.Response.ContentType = PrometheusMetrics.ContentType;
            return c.Response.WriteAsync(PrometheusMetrics.Render(_engine, this), c.RequestAborted);
        });
        _app.MapMethods("/v1/models", reads, (HttpContext c) => WriteJsonAsync(c, 200, new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(ModelObject()),
        }));
        _app.MapMethods("/v1/models/{id}", reads, (HttpContext c) => (string?)c.Request.RouteValues["id"] == _engine.ModelId
            ? WriteJsonAsync(c, 200, ModelObject())
            : throw new OpenAiException(404, $"the model '{c.Request.RouteValues["id"]}' does not exist; this server serves '{_engine.ModelId}'", "model", "model_not_found"));
        _app.MapMethods("/tokenizer_info", reads, (HttpContext c) => WriteJsonAsync(c, 200, OpenAiRequests.TokenizerInfo(_engine, _formatter)));
        // The answer is written under the body's budget too: its ids, or its text, are in proportion to the body
        // (the budget goes back once they are written, before the client has read them; see AnswerLargeAsync).
        _app.MapPost("/tokenize", async c =>
        {
            (RequestBody body, BodyBudget.Lease budget) = await ReadBodyAsync(c).ConfigureAwait(false);
            await AnswerLargeAsync(c, body, budget, json => OpenAiRequests.Tokenize(json, _engine, c.RequestAborted)).ConfigureAwait(false);
        });
        _app.MapPost("/detokenize", async c =>
        {
            (RequestBody body, BodyBudget.Lease budget) = await ReadBodyAsync(c).ConfigureAwait(false);
            await AnswerLargeAsync(c, body, budget, json => OpenAiRequests.Detokenize(json, _engine)).ConfigureAwait(false);
        });
        _app.MapPost("/v1/completions", c => GenerateAsync(c, chat: false));
        _app.MapPost("/v1/chat/completions", c => GenerateAsync(c, chat: true));
    }

    /// <summary>
    /// Whether a Content-Encoding value leaves the body as it is: a comma-separated list (a header sent on several
    /// lines arrives as one) of case-insensitive codings, each identity or empty (RFC 9110 asks recipients to ignore
    /// empty list elements). "identity, identity" was refused as a coding the server does not decode.
    /// </summary>
    internal static bool NamesNoCoding(string contentEncoding) =>
        contentEncoding.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .All(coding => coding.Equals("identity", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The request's body, read whole, and its lease of <see cref="Bodies"/>, which the caller holds while it parses
    /// and handles the body (<see cref="HandleAsync"/>): a body read whole waits there, first in first out, until it
    /// fits (the client gone or the server stopping end the wait). A body still arriving when the server stops is not
    /// waited for (a client that sends slowly would hold the stop until the host's shutdown timeout): its request gets
    /// the 503 of a stopping server, and its connection is closed.
    /// </summary>
    private async Task<(RequestBody Body, BodyBudget.Lease Budget)> ReadBodyAsync(HttpContext context)
    {
        // A coding the server does not decode (RFC 9110: 415): ignored, gzip's bytes were answered "not valid JSON at
        // line 1, byte 1", and a JSON body labelled gzip was read as JSON.
        string coding = context.Request.Headers.ContentEncoding.ToString().Trim();
        if (!NamesNoCoding(coding))
        {
            throw new OpenAiException(415, $"Content-Encoding '{coding}' is not supported; send the body uncompressed");
        }
        var body = new RequestBody();
        CancellationToken stopping = _app.Lifetime.ApplicationStopping;
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
            throw ServerStopping();
        }
        catch (Exception e) when (ConnectionEnded(e, context.Request.ContentLength, body.Length))
        {
            throw new ClientLeftException("the client went away before its request's body was complete", e);
        }
        try
        {
            return (body, await Bodies.TakeAsync(body.Length, reading.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            throw ServerStopping();
        }
    }

    /// <summary>
    /// <paramref name="handle"/>'s result for the body parsed and checked as
    /// <see cref="OpenAiRequests.ParseBody(ReadOnlyMemory{byte})"/> checks it; a large body's on a thread of its own
    /// (<see cref="LargeBodyThread"/>). Only that result outlives this: the parsed body is the handler's to read, and
    /// then garbage. Not an async method, for the reason <see cref="LargeBodyThread.RunAsync"/> is not: a small body's
    /// failure is thrown here, where its caller awaits.
    /// </summary>
    internal static Task<T> HandleAsync<T>(RequestBody body, Func<JsonElement, T> handle) => body.Length >= LargeBodyThread.Bytes
        ? LargeBodyThread.RunAsync(() => handle(OpenAiRequests.ParseBody(body.Bytes)))
        : Task.FromResult(handle(OpenAiRequests.ParseBody(body.Bytes)));

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

    /// <summary>
    /// A request that ends with no client to answer (one that left before its body was whole, or was cut off after a
    /// stop): counted as aborted, not as an error answered.
    /// </summary>
    /// <summary>Marks a request whose body was left unread: its connection is closed once it is answered.</summary>
    private static readonly object UnreadBodyKey = new();

    /// <summary>How long an answer to a request whose body was left unread has to leave before its connection closes.</summary>
    private static readonly TimeSpan UnreadBodyGrace = TimeSpan.FromMilliseconds(200);

    private sealed class ClientLeftException(string message, Exception inner) : Exception(message, inner);

    private JsonObject ModelObject() => new()
    {
        ["id"] = _engine.ModelId,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "copal",
    };

    private async Task GenerateAsync(HttpContext context, bool chat)
    {
        CancellationToken aborted = context.RequestAborted;
        (RequestBody body, BodyBudget.Lease budget) = await ReadBodyAsync(context).ConfigureAwait(false);
        OpenAiRequest request;
        OpenAiChoice[] choices;
        // The body's budget covers its parse, its check and its prompts' encoding, not the generation, whose memory
        // the engine bounds (its slots and their caches).
        using (budget)
        {
            (request, choices) = await HandleAsync(body, json =>
            {
                OpenAiRequest read = chat ? OpenAiRequests.Chat(json, _engine, _formatter, _toolCalls) : OpenAiRequests.Completion(json, _engine);
                // Every prompt is checked before any choice starts: a bad one refuses the request, and nothing is decoded.
                return (read, OpenAiChoices.Of(read, _engine, chat, _splitReasoning, aborted));
            }).ConfigureAwait(false);
        }
        Interlocked.Increment(ref _generations);
        // The generation ends when the client goes away or the server stops. Kestrel only aborts the requests still
        // running when the host's shutdown timeout (30 s) is over, so stopping has to reach the engine itself.
        CancellationToken stopping = _app.Lifetime.ApplicationStopping;
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
        CancellationToken stopping = _app.Lifetime.ApplicationStopping;
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        string obj = chat ? (request.Stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // Cancelled by the stop, not by the client: the client is still there to be told.
        bool Stopped(Exception e) => e is OperationCanceledException && stopping.IsCancellationRequested && !aborted.IsCancellationRequested;
        // The choices start together, so the engine decodes them side by side; their chunks come interleaved. Disposing
        // the stream (the client gone, a choice failed) cancels every choice still running.
        ChoiceStream chunks = ChoiceStream.Start(choices.Length, (i, token) => _engine.StreamAsync(choices[i].Run, token), generation);
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
                throw ServerStopping();
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
                    throw ServerStopping();
                }
                await WriteJsonAsync(context, 200, Envelope(id, obj, created, choices.Select(c => c.Whole()), OpenAiChoices.Usage(choices)), writes).ConfigureAwait(false);
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
                        await SendAsync(context, Envelope(id, obj, created, [piece], null, request.IncludeUsage), writes).ConfigureAwait(false);
                    }
                    any = await chunks.MoveNextAsync().ConfigureAwait(false);
                }
                if (request.IncludeUsage)
                {
                    await SendAsync(context, Envelope(id, obj, created, [], OpenAiChoices.Usage(choices)), writes).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || (Stopped(e) && !writes.IsCancellationRequested))
            {
                // Headers are sent: the error goes out as an event, in the same shape (unless the writes were cut off).
                Interlocked.Increment(ref _errors);
                (int status, JsonObject error) = ErrorObject(Stopped(e) ? ServerStopping() : e, chat);
                ReportBug(context, status, e);
                await SendAsync(context, error, writes).ConfigureAwait(false);
            }
            await context.Response.WriteAsync("data: [DONE]\n\n", writes).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(writes).ConfigureAwait(false);
        }
    }

    /// <summary>What a request in flight gets when the server stops under it: 503, the status of a server that cannot serve now.</summary>
    private static OpenAiException ServerStopping() =>
        new(503, "the server is stopping; the generation was cancelled before it finished", type: "server_error");

    /// <summary>The response object around choices; none gives OpenAI's usage-only last chunk.</summary>
    private JsonObject Envelope(string id, string obj, long created, IEnumerable<JsonObject> choices, CompletionUsage? usage, bool nullUsage = false)
    {
        var o = new JsonObject
        {
            ["id"] = id,
            ["object"] = obj,
            ["created"] = created,
            ["model"] = _engine.ModelId,
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

    private static async Task SendAsync(HttpContext context, JsonObject data, CancellationToken cancellationToken)
    {
        await context.Response.WriteAsync("data: " + data.ToJsonString(s_json) + "\n\n", cancellationToken).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task WriteJsonAsync(HttpContext context, int status, JsonObject body) => WriteJsonAsync(context, status, body, context.RequestAborted);

    private static Task WriteJsonAsync(HttpContext context, int status, JsonObject body, CancellationToken cancellationToken)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(s_json), cancellationToken);
    }

    /// <summary>
    /// A 200 whose JSON is as large as its request's body (a /tokenize's ids, a /detokenize's text), made by
    /// <paramref name="answer"/> and written as UTF-8 into the response's own buffers, where the body is handled (a
    /// large one's on its own thread, <see cref="HandleAsync"/>): the same bytes as
    /// <see cref="WriteJsonAsync(HttpContext, int, JsonObject)"/>. The body's budget goes back once the answer is
    /// written there, before its client has read it: the parse's memory and the answer's ids or text are garbage by
    /// then, for the collection after a large body, and a client slow to read (32 KB a second) had held every other
    /// request with a body behind it for the twenty minutes of a 30 MB /tokenize's answer.
    /// </summary>
    private static async Task AnswerLargeAsync(HttpContext context, RequestBody body, BodyBudget.Lease budget, Func<JsonElement, JsonObject> answer)
    {
        using (budget)
        {
            await HandleAsync(body, json =>
            {
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                WriteJson(context.Response.BodyWriter, answer(json));
                return true;
            }).ConfigureAwait(false);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="body"/> as UTF-8 JSON, the bytes <see cref="JsonNode.ToJsonString"/> gives under the settings
    /// (whose writer is compact with the settings' encoder), written as they come: a text of the answer (UTF-16, twice
    /// its bytes) and that text's encoding took 3× a large answer, 34 MB of ids for a /tokenize of 30 MB.
    /// </summary>
    internal static void WriteJson(System.Buffers.IBufferWriter<byte> output, JsonObject body)
    {
        using var writer = new Utf8JsonWriter(output, s_writer);
        body.WriteTo(writer, s_json);
    }

    private static readonly JsonWriterOptions s_writer = new() { Encoder = s_json.Encoder, Indented = s_json.WriteIndented };

    private async Task WriteErrorAsync(HttpContext context, Exception e)
    {
        Interlocked.Increment(ref _errors);
        if (context.Response.HasStarted)
        {
            return;
        }
        (int status, JsonObject body) = ErrorObject(e, chat: context.Request.Path.StartsWithSegments("/v1/chat/completions", StringComparison.Ordinal));
        ReportBug(context, status, e);
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
        await WriteJsonAsync(context, status, body).ConfigureAwait(false);
    }

    /// <summary>
    /// A 500 is a bug of ours: the server's log (standard error) gets what a bug report needs. A model's failure (its
    /// weights' non-finite logits, its chat template's error) is the operator's to fix: the log gets its message.
    /// </summary>
    private static void ReportBug(HttpContext context, int status, Exception e)
    {
        if (status != 500 || e is Copal.Model.Inference.NonFiniteLogitsException)
        {
            return;
        }
        Infrastructure.Out.Info(e is Copal.Model.ChatTemplates.ChatTemplateException
            ? $"copal serve: {context.Request.Method} {context.Request.Path}: {e.Message}"
            : $"copal serve: internal error on {context.Request.Method} {context.Request.Path}, please report it: {e}");
    }

    /// <summary>
    /// OpenAI's error object for <paramref name="e"/> and its status: a request's fault is 4xx, ours 500. In a
    /// <paramref name="chat"/> request the prompt the engine names is the rendered messages: its param is "messages".
    /// </summary>
    internal static (int Status, JsonObject Body) ErrorObject(Exception e, bool chat = false)
    {
        (int status, string message, string type, string? param, string? code) = e switch
        {
            OpenAiException o => (o.Status, o.Message, o.Type, o.Param, o.Code),
            CompletionRequestException r => (400, r.Message, "invalid_request_error", chat && r.Parameter == "prompt" ? "messages" : r.Parameter,
                r.ContextLengthExceeded ? "context_length_exceeded" : r.Unsupported ? "unsupported_parameter" : null),
            BadHttpRequestException b => (b.StatusCode, b.Message, "invalid_request_error", null, null),
            NotSupportedException n => (400, n.Message, "invalid_request_error", null, "unsupported_parameter"),
            // The model's chat template refused the conversation (e.g. "roles must alternate"): the request's fault.
            Copal.Model.ChatTemplates.ChatTemplateRaisedException t => (400, t.TemplateMessage, "invalid_request_error", "messages", null),
            // The template itself failed (an error in it, or a render past its step or size budget): the server's,
            // named so its operator can fix the template; not a bug of ours to report.
            Copal.Model.ChatTemplates.ChatTemplateException t => (500, t.Message, "server_error", null, null),
            // The device could not hold this request's KV cache: the server's state, not the request's fault nor a bug;
            // memory frees as other requests end, so a retry may fit.
            Copal.Tensors.Backends.DeviceOutOfMemoryException m => (503, m.Message, "server_error", null, null),
            // The model's weights gave NaN or ±Inf: the server's failure, with a message that names the step.
            Copal.Model.Inference.NonFiniteLogitsException f => (500, f.Message, "server_error", null, null),
            // A bug of ours: the client gets no .NET text, the server's standard error gets the details (ReportBug).
            _ => (500, "internal error: the server failed on this request; its standard error has the details", "server_error", null, null),
        };
        var error = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code };
        return (status, new JsonObject { ["error"] = error });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _largeBodiesCollection.Dispose();
    }
}
