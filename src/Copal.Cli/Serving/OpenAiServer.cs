using System.Net;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
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
/// This class starts and stops the server and routes its requests: the endpoints are in <see cref="InfoEndpoints"/>,
/// <see cref="TokenizeEndpoints"/> and <see cref="GenerationEndpoints"/>, its errors' answers in
/// <see cref="ErrorMiddleware"/>, and its request bodies' reading in <see cref="BodyReader"/>.
/// </summary>
internal sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BodyReader _bodies;
    private readonly RequestCounts _counts = new();

    /// <summary>
    /// The bytes of request bodies parsed and handled at once by default: one body at Kestrel's limit (30,000,000
    /// bytes), which peaks under 1 GB (<see cref="BodyBudget"/>); bodies of a few kilobytes, a chat's, go side by side
    /// by the thousand.
    /// </summary>
    internal const long DefaultBodyBudget = 30_000_000;

    private OpenAiServer(WebApplication app, InferenceEngine engine, IChatFormatter formatter, bool splitReasoning, ToolCallReading toolCalls, long bodyBudget)
    {
        _app = app;
        _bodies = new BodyReader(bodyBudget, app.Lifetime);
        _app.Use(new ErrorMiddleware(_counts).InvokeAsync);
        new InfoEndpoints(engine, formatter, this).Map(app);
        new TokenizeEndpoints(engine, _bodies).Map(app);
        new GenerationEndpoints(engine, formatter, splitReasoning, toolCalls, _bodies, _counts, app.Lifetime).Map(app);
    }

    /// <summary>The bodies being parsed and handled, and those waiting to be.</summary>
    internal BodyBudget Bodies => _bodies.Budget;

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8080 (the real port when 0 was asked).</summary>
    public Uri Address { get; private set; } = null!;

    /// <inheritdoc cref="RequestCounts.Aborted"/>
    public long Aborted => _counts.Aborted;

    /// <inheritdoc cref="RequestCounts.Generations"/>
    public long Generations => _counts.Generations;

    /// <inheritdoc cref="RequestCounts.Errors"/>
    public long Errors => _counts.Errors;

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
            int listenPort = pickPort ? LocalhostPort.Free() : port;
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

    /// <summary>Waits until the server stops (<paramref name="cancellationToken"/> stops it).</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _bodies.Dispose();
    }
}
