using System.ClientModel;
using Copal.Cli.Serving;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;
using OpenAI;

namespace Copal.Serving.Tests;

/// <summary>
/// An in-process <c>copal serve</c> (the same <see cref="OpenAiServer"/> the command starts) over stories260K on a
/// free loopback port, and a second copy of the model for one-at-a-time references.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime, IDisposable
{
    private CpuBackend? _backend;
    private LlamaModel? _model;

    public InferenceEngine Engine { get; private set; } = null!;
    internal OpenAiServer Server { get; private set; } = null!;
    public CopalTokenizer Tokenizer { get; private set; } = null!;
    /// <summary>The model the references run on, outside the server.</summary>
    public LlamaModel Model => _model!;
    public Uri Endpoint => new(Server.Address, "/v1");

    /// <summary>Called on the scheduler thread before each decode step.</summary>
    public Action? BeforeDecodeStep { get; set; }

    /// <summary>Called on the scheduler thread before each admission reads the queue.</summary>
    public Action? BeforeAdmission { get; set; }

    public OpenAIClient Client() => new(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = Endpoint, NetworkTimeout = TimeSpan.FromMinutes(2) });

    public int Parallel { get; init; } = 4;

    /// <summary>POSTs <paramref name="body"/> as JSON to <paramref name="path"/> through the OpenAI client's pipeline (the client has no public completions API).</summary>
    public async Task<(int Status, string Body)> PostAsync(string path, object body)
    {
        System.ClientModel.Primitives.ClientPipeline pipeline = Client().GetChatClient("stories260K").Pipeline;
        using System.ClientModel.Primitives.PipelineMessage message = pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(Server.Address, path);
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = System.ClientModel.BinaryContent.Create(BinaryData.FromObjectAsJson(body));
        await pipeline.SendAsync(message);
        return (message.Response!.Status, message.Response.Content.ToString());
    }

    /// <summary>POSTs <paramref name="body"/> and returns the answer, which must be a 200.</summary>
    public async Task<System.Text.Json.JsonElement> PostOkAsync(string path, object body)
    {
        (int status, string text) = await PostAsync(path, body);
        Assert.True(status == 200, text);
        return System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The data events of a streamed answer, which must be a 200, end with [DONE] and hold no error.</summary>
    public async Task<System.Text.Json.JsonElement[]> StreamEventsAsync(string path, object body)
    {
        (int status, string text) = await PostAsync(path, body);
        Assert.True(status == 200, text);
        string[] events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        System.Text.Json.JsonElement[] chunks = [.. events[..^1].Select(e => System.Text.Json.JsonDocument.Parse(e["data: ".Length..]).RootElement.Clone())];
        Assert.DoesNotContain(chunks, c => c.TryGetProperty("error", out _));
        return chunks;
    }

    public async Task InitializeAsync()
    {
        _backend = new CpuBackend();
        _model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Auto);
        Tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        Engine = InferenceEngine.Load(TestData.Stories260K, _backend, new EngineOptions
        {
            Parallel = Parallel,
            BeforeDecodeStep = () => BeforeDecodeStep?.Invoke(),
            BeforeAdmission = () => BeforeAdmission?.Invoke(),
        });
        Server = await OpenAiServer.StartAsync(Engine, "127.0.0.1", 0);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Engine.Dispose();
        Dispose();
    }

    public void Dispose()
    {
        _model?.Dispose();
        _backend?.Dispose();
        _model = null;
        _backend = null;
    }
}
