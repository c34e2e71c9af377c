using System.Net.Sockets;
using Copal.Cli.Serving;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A server over stories260K with one slot, spoken to over raw sockets: the tests that use it test a request's framing
/// (a body cut short, a malformed chunk, a length announced past the limit), which HttpClient would not send.
/// </summary>
internal sealed class RawHttpServer : IAsyncDisposable
{
    private readonly CpuBackend _backend;
    private readonly InferenceEngine _engine;

    private RawHttpServer(CpuBackend backend, InferenceEngine engine, OpenAiServer server)
    {
        _backend = backend;
        _engine = engine;
        Server = server;
    }

    public OpenAiServer Server { get; }

    public static async Task<RawHttpServer> StartAsync(long bodyBudget = OpenAiServer.DefaultBodyBudget)
    {
        var backend = new CpuBackend();
        InferenceEngine? engine = null;
        try
        {
            engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 });
            return new RawHttpServer(backend, engine, await OpenAiServer.StartAsync(engine, "127.0.0.1", 0, bodyBudget: bodyBudget));
        }
        catch
        {
            engine?.Dispose();
            backend.Dispose();
            throw;
        }
    }

    /// <summary>A socket connected to the server; the caller disposes it.</summary>
    public async Task<Socket> ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(Server.Address.Host, Server.Address.Port);
        return client;
    }

    /// <summary>The head of a POST to /v1/completions with a JSON body, ending in <paramref name="framing"/>'s header lines and the blank line.</summary>
    public string CompletionsHead(string framing) =>
        $"POST /v1/completions HTTP/1.1\r\nHost: {Server.Address.Authority}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n";

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _engine.Dispose();
        _backend.Dispose();
    }
}
