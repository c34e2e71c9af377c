using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// /metrics: the engine's and the server's counters in Prometheus' text format, each with its HELP and TYPE. Run with no
/// other test class beside it: the process gauges are checked against the resident pages and allocated bytes read just
/// before and after a scrape, which another class's large buffers, allocated or freed meanwhile, would move.
/// </summary>
[Collection(QuietHeapCollection.Name)]
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
        // Copal's own series are whole numbers (the process's seconds are not).
        Dictionary<string, long> values = Described(lines).ToDictionary(p => p.Key, p => (long)p.Value);
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

    /// <summary>
    /// The series of <paramref name="lines"/> by name and labels, each checked to be described (its HELP and TYPE
    /// before it) and to have one value.
    /// </summary>
    private static Dictionary<string, double> Described(string[] lines)
    {
        var values = new Dictionary<string, double>();
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
            values.Add(parts[0], double.Parse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture));
            string name = parts[0].Split('{')[0];
            Assert.Contains($"# HELP {name}", described);
            Assert.Contains($"# TYPE {name}", described);
        }
        return values;
    }

    /// <summary>
    /// The process's memory and CPU under Prometheus' process collector's names, and the managed heap under the .NET
    /// runtime meter's, each described; read here, in the server's own process, against what Linux and the runtime say
    /// before and after the scrape.
    /// </summary>
    [Fact]
    public async Task Metrics_give_the_process_memory_and_cpu_and_the_managed_heap()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions { Parallel = 1 });
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        // A large object held through the scrape: the large object heap holds at least its bytes.
        byte[] large = new byte[LargeBytes];
        // A collection first, so the heap's figures are of one (before any, the runtime has none and gives zeros).
        GC.Collect();
        double cpuBefore;
        using (Process process = Process.GetCurrentProcess())
        {
            cpuBefore = process.TotalProcessorTime.TotalSeconds;
        }
        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        long residentBefore = ResidentBytes();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        string[] lines = (await http.GetStringAsync(new Uri(server.Address, "/metrics"))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        long allocatedAfter = GC.GetTotalAllocatedBytes(precise: true);
        long residentAfter = ResidentBytes();
        Dictionary<string, double> values = Described(lines);

        foreach (string gauge in new[] { "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_start_time_seconds",
            "dotnet_gc_last_collection_heap_size_bytes", "dotnet_gc_last_collection_memory_committed_size_bytes" })
        {
            Assert.Contains($"# TYPE {gauge} gauge", lines);
        }
        Assert.Contains("# TYPE process_cpu_seconds_total counter", lines);
        Assert.Contains("# TYPE dotnet_gc_heap_total_allocated_bytes_total counter", lines);

        double resident = values["process_resident_memory_bytes"];
        Assert.True(resident > 0 && values["process_virtual_memory_bytes"] >= resident, $"resident {resident}, virtual {values["process_virtual_memory_bytes"]}");
        if (OperatingSystem.IsLinux())
        {
            // The kernel's count of the process's resident pages, read just before and after: the scrape's own pages
            // (its threads' stacks, the HTTP exchange) are what may come or go between the readings.
            const long Margin = 64L << 20;
            Assert.InRange(resident, Math.Min(residentBefore, residentAfter) - Margin, Math.Max(residentBefore, residentAfter) + Margin);
        }
        // The process started before this test did, and has run since.
        Assert.InRange(values["process_start_time_seconds"], now - TimeSpan.FromDays(1).TotalSeconds, now);
        Assert.True(values["process_cpu_seconds_total"] > 0);
        Assert.InRange((long)values["dotnet_gc_heap_total_allocated_bytes_total"], allocatedBefore, allocatedAfter);
        string[] generations = ["gen0", "gen1", "gen2", "loh", "poh"];
        double heap = generations.Sum(g => values[$"dotnet_gc_last_collection_heap_size_bytes{{gc_heap_generation=\"{g}\"}}"]);
        // The engine's model and tokenizer live on the heap: it holds something, within what the collector committed.
        Assert.InRange(heap, 1, values["dotnet_gc_last_collection_memory_committed_size_bytes"]);
        Assert.InRange(values["dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation=\"loh\"}"], LargeBytes, double.MaxValue);
        GC.KeepAlive(large);
        // The start to the millisecond, as the process collector writes it; CPU time with the system's share (user
        // and system), which only grows.
        using (Process process = Process.GetCurrentProcess())
        {
            Assert.Equal(new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0, values["process_start_time_seconds"]);
        }
        Assert.InRange(values["process_cpu_seconds_total"], cpuBefore, double.MaxValue);
    }

    private const int LargeBytes = 64 << 20;

    /// <summary>The process's resident bytes as Linux counts them (<c>/proc/self/statm</c>'s second field, in pages); 0 elsewhere.</summary>
    private static long ResidentBytes() => OperatingSystem.IsLinux()
        ? long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize
        : 0;

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
