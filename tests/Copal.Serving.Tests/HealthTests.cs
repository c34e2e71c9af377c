using System.Net;
using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>/health says when the engine can no longer serve: after a failed forward pass ended its decoding.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task Health_is_503_once_a_failed_pass_has_ended_the_engines_decoding()
    {
        using var backend = new CpuBackend();
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K),
            new EngineOptions { BeforeDecodeStep = model.Dispose }, ownsModel: false);
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        using (HttpResponseMessage ok = await http.GetAsync(new Uri(server.Address, "/health")))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 4 }));
        using HttpResponseMessage failed = await http.GetAsync(new Uri(server.Address, "/health"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        JsonElement body = JsonDocument.Parse(await failed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("error", body.GetProperty("status").GetString());
        Assert.DoesNotContain("Exception", body.GetProperty("error").GetString(), StringComparison.Ordinal); // no .NET text for a client
    }
}
