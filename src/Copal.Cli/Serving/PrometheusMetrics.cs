using System.Diagnostics;
using System.Globalization;
using System.Text;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// <c>/metrics</c>: the engine's and the server's counters in Prometheus' text format (version 0.0.4), as vLLM and
/// llama.cpp's server expose theirs, so a scraper watches load, throughput and what the prefix cache saves.
/// </summary>
internal static class PrometheusMetrics
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Render(InferenceEngine engine, OpenAiServer server)
    {
        EngineStatistics s = engine.Statistics;
        var text = new StringBuilder();
        Counter(text, "copal_requests_total", "Generation requests (completions and chat) whose choices were started.", server.Generations);
        Counter(text, "copal_request_errors_total", "HTTP requests answered with an error status.", server.Errors);
        Counter(text, "copal_requests_aborted_total", "HTTP requests whose client went away before the answer was complete.", server.Aborted);
        Counter(text, "copal_sequences_started_total", "Sequences (one per choice) submitted to the engine.", s.Started);
        Counter(text, "copal_sequences_completed_total", "Sequences that ended by themselves: end of sequence, a stop text, max tokens or the context.", s.Completed);
        Counter(text, "copal_sequences_cancelled_total", "Sequences cancelled by their caller before they finished.", s.Cancelled);
        Counter(text, "copal_sequences_failed_total", "Sequences that failed: no token left to choose, non-finite logits, a KV cache the device could not hold, or the engine's stop.", s.Failed);
        Counter(text, "copal_generation_tokens_total", "Tokens generated.", s.Tokens);
        Header(text, "copal_prompt_tokens_total", "Prompt tokens, by how their KV cache was made: run through a prefill, copied from a choice of the same prompt, or kept by the prefix cache.", "counter");
        Sample(text, "copal_prompt_tokens_total{source=\"run\"}", s.PromptTokens);
        Sample(text, "copal_prompt_tokens_total{source=\"shared\"}", s.SharedPromptTokens);
        Sample(text, "copal_prompt_tokens_total{source=\"cached\"}", s.CachedPromptTokens);
        Counter(text, "copal_decode_steps_total", "Batched decode steps (one forward pass each).", s.Steps);
        Counter(text, "copal_decode_rows_total", "Rows decoded over all steps; divided by the steps, the mean batch.", s.Rows);
        Gauge(text, "copal_sequences_running", "Sequences in the batch now.", s.Active);
        Gauge(text, "copal_slots", "Sequences decoded together at most (--parallel).", engine.Options.Parallel);
        Gauge(text, "copal_kv_cache_bytes", "Bytes of the slots' KV caches now, idle slots' kept caches included.", engine.KvCacheBytes);
        Gauge(text, "copal_kv_cache_peak_bytes", "The most bytes the KV caches held at once, taken after each prefill and decode step.", s.PeakKvCacheBytes);
        Gauge(text, "copal_engine_up", "1 while the engine decodes, 0 once a failed forward pass has ended it.", engine.Fault is null ? 1 : 0);
        Gauge(text, "copal_request_body_budget_bytes", "Bytes of request bodies parsed and handled at once at most; a body past them waits its turn.", server.Bodies.Bytes);
        Gauge(text, "copal_request_body_bytes", "Bytes of the request bodies being parsed and handled now.", server.Bodies.Used);
        Gauge(text, "copal_request_bodies_waiting", "Request bodies, read whole, waiting for the body budget now.", server.Bodies.Waiting);
        ProcessMemory(text);
        return text.ToString();
    }

    /// <summary>
    /// The process's memory and CPU under the names of Prometheus' own process collector (which vLLM's server exposes
    /// through its Python client), and the .NET collector's heap under those of the runtime's <c>System.Runtime</c>
    /// meter as OpenTelemetry's Prometheus exporter writes them: a scraper sees what the server holds, and whether it
    /// is the managed heap or the memory around it (the pools' arrays, the KV caches, the model's weights).
    /// </summary>
    private static void ProcessMemory(StringBuilder text)
    {
        using Process process = Process.GetCurrentProcess();
        Gauge(text, "process_resident_memory_bytes", "Resident memory size in bytes.", process.WorkingSet64);
        Gauge(text, "process_virtual_memory_bytes", "Virtual memory size in bytes.", process.VirtualMemorySize64);
        Header(text, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge");
        Sample(text, "process_start_time_seconds", new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
        Header(text, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter");
        Sample(text, "process_cpu_seconds_total", process.TotalProcessorTime.TotalSeconds);
        // As of the last collection (zeros before the first): what the runtime knows without walking the heap.
        GCMemoryInfo gc = GC.GetGCMemoryInfo();
        Header(text, "dotnet_gc_last_collection_heap_size_bytes", "The managed heap's size by generation, as of the last garbage collection.", "gauge");
        ReadOnlySpan<string> generations = ["gen0", "gen1", "gen2", "loh", "poh"];
        for (int g = 0; g < generations.Length; g++)
        {
            long size = g < gc.GenerationInfo.Length ? gc.GenerationInfo[g].SizeAfterBytes : 0;
            Sample(text, $"dotnet_gc_last_collection_heap_size_bytes{{gc_heap_generation=\"{generations[g]}\"}}", size);
        }
        Gauge(text, "dotnet_gc_last_collection_memory_committed_size_bytes", "Memory the garbage collector had committed, as of the last garbage collection.", gc.TotalCommittedBytes);
        Counter(text, "dotnet_gc_heap_total_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.", GC.GetTotalAllocatedBytes());
    }

    private static void Counter(StringBuilder text, string name, string help, long value)
    {
        Header(text, name, help, "counter");
        Sample(text, name, value);
    }

    private static void Gauge(StringBuilder text, string name, string help, long value)
    {
        Header(text, name, help, "gauge");
        Sample(text, name, value);
    }

    private static void Header(StringBuilder text, string name, string help, string type) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string series, long value) =>
        text.Append(series).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static void Sample(StringBuilder text, string series, double value) =>
        text.Append(series).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
}
