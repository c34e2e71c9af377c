using System.Globalization;
using System.Net;
using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>/metrics: the engine's and the server's counters in Prometheus' text format, each with its HELP and TYPE.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_count_requests_tokens_and_what_the_prefix_cache_saved()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 2 });
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        string body = JsonSerializer.Serialize(new { model = "stories260K", prompt = Enumerable.Range(0, 300).Select(i => 3 + (i * 37 % 500)), max_tokens = 3, temperature = 0 });
        int generated = 0;
        for (int i = 0; i < 2; i++)
        {
            using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using HttpResponseMessage r = await http.PostAsync(new Uri(server.Address, "/v1/completions"), content);
            string json = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, json);
            generated += JsonDocument.Parse(json).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        }
        using (var bad = new StringContent("{", System.Text.Encoding.UTF8, "application/json"))
        using (HttpResponseMessage refused = await http.PostAsync(new Uri(server.Address, "/v1/completions"), bad))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        using HttpResponseMessage metrics = await http.GetAsync(new Uri(server.Address, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", metrics.Content.Headers.ContentType!.ToString());
        string[] lines = (await metrics.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var values = new Dictionary<string, long>();
        var described = new HashSet<string>();
        foreach (string line in lines)
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                described.Add($"{line[..6]} {line[7..].Split(' ')[0]}");
                continue;
            }
            string[] parts = line.Split(' ');
            Assert.Equal(2, parts.Length);
            values.Add(parts[0], long.Parse(parts[1], CultureInfo.InvariantCulture));
            string name = parts[0].Split('{')[0];
            Assert.Contains($"# HELP {name}", described);
            Assert.Contains($"# TYPE {name}", described);
        }
        Assert.Equal(2, values["copal_requests_total"]);
        Assert.Equal(1, values["copal_request_errors_total"]);
        Assert.Equal(2, values["copal_sequences_completed_total"]);
        Assert.Equal(generated, values["copal_generation_tokens_total"]);
        // The second request found its first two chunks in the first's slot.
        Assert.Equal((344, 0, 256), (values["copal_prompt_tokens_total{source=\"run\"}"], values["copal_prompt_tokens_total{source=\"shared\"}"], values["copal_prompt_tokens_total{source=\"cached\"}"]));
        Assert.Equal((0, 2, 1), (values["copal_sequences_running"], values["copal_slots"], values["copal_engine_up"]));
        Assert.Equal(engine.KvCacheBytes, values["copal_kv_cache_bytes"]);
        Assert.Equal((OpenAiServer.DefaultBodyBudget, 0, 0), (values["copal_request_body_budget_bytes"], values["copal_request_body_bytes"], values["copal_request_bodies_waiting"]));
        // What goes up and down is a gauge, what only grows a counter: a scraper takes a rate only of a counter.
        foreach (string gauge in new[] { "copal_sequences_running", "copal_slots", "copal_kv_cache_bytes", "copal_kv_cache_peak_bytes", "copal_engine_up",
            "copal_request_body_budget_bytes", "copal_request_body_bytes", "copal_request_bodies_waiting" })
        {
            Assert.Contains($"# TYPE {gauge} gauge", lines);
        }
        Assert.Contains("# TYPE copal_requests_total counter", lines);
    }

    /// <summary>copal_engine_up is 0 once a failure outside one sequence (here the model disposed between steps) has ended the engine.</summary>
    [Fact]
    public async Task Metrics_say_the_engine_is_down_once_a_failure_has_ended_it()
    {
        using var backend = new CpuBackend();
        Copal.Model.Inference.LlamaModel model = Copal.Model.Inference.LlamaModel.Load(TestData.Stories260K, backend);
        using var engine = new InferenceEngine(model, Copal.Model.Tokenization.CopalTokenizer.FromDirectory(TestData.Stories260K),
            new EngineOptions { BeforeDecodeStep = model.Dispose }, ownsModel: false);
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        string Up(string metrics) => metrics.Split('\n').Single(l => l.StartsWith("copal_engine_up ", StringComparison.Ordinal));
        Assert.Equal("copal_engine_up 1", Up(await http.GetStringAsync(new Uri(server.Address, "/metrics"))));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 8 }));
        Assert.NotNull(engine.Fault);
        Assert.Equal("copal_engine_up 0", Up(await http.GetStringAsync(new Uri(server.Address, "/metrics"))));
    }

    /// <summary>
    /// Every sequence started is counted once as it ends: completed, cancelled or failed. A sequence that failed (its
    /// options left no token to choose) was counted nowhere, so started − completed − cancelled never came back to 0
    /// on an idle server and a scraper saw it waiting for ever.
    /// </summary>
    [Fact]
    public async Task Every_sequence_started_ends_counted_completed_cancelled_or_failed()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 2 });
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        // A repetition penalty of 1e-38 sends a positive logit of a prompt token to +∞: the request fails (sent three
        // times, one after another, each with one choice, so none is cancelled by another's failure).
        string failing = """{"model":"stories260K","prompt":"Once upon a time there was a little girl named Lily. She","max_tokens":5,"temperature":0,"repetition_penalty":1e-38}""";
        string good = """{"model":"stories260K","prompt":"Once upon a time","max_tokens":5,"temperature":0}""";
        foreach ((string body, HttpStatusCode status) in new[] { (failing, HttpStatusCode.BadRequest), (failing, HttpStatusCode.BadRequest), (failing, HttpStatusCode.BadRequest), (good, HttpStatusCode.OK) })
        {
            using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using HttpResponseMessage r = await http.PostAsync(new Uri(server.Address, "/v1/completions"), content);
            Assert.True(r.StatusCode == status, await r.Content.ReadAsStringAsync());
        }
        string metrics = await http.GetStringAsync(new Uri(server.Address, "/metrics"));
        long Value(string name) => long.Parse(metrics.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        Assert.Contains("# TYPE copal_sequences_failed_total counter", metrics);
        Assert.Equal((4, 1, 0, 3), (Value("copal_sequences_started_total"), Value("copal_sequences_completed_total"), Value("copal_sequences_cancelled_total"), Value("copal_sequences_failed_total")));
        Assert.Equal(0, Value("copal_sequences_running"));
        Assert.Equal(3, engine.Statistics.Started - engine.Statistics.Completed - engine.Statistics.Cancelled);
    }
}
