using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>The <c>copal serve</c> command as a process: option errors, startup line, health, SIGTERM.</summary>
public sealed partial class ServeCommandTests
{
    private static Process Start(params string[] args) => StartWith(new Dictionary<string, string>(), args);

    /// <summary>Starts copal with <paramref name="environment"/> added to the test's own.</summary>
    private static Process StartWith(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestData.RepoRoot,
        };
        foreach ((string name, string value) in environment)
        {
            psi.Environment[name] = value;
        }
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi)!;
    }

    [Theory]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--host", "not-an-address", "--host")]
    [InlineData("--parallel", "0", "--parallel")]
    [InlineData("--ctx-size", "9999", "--ctx-size 9999")]
    [InlineData("--prefix-cache", "maybe", "--prefix-cache: expected on or off, got 'maybe'")]
    [InlineData("--tool-call-parser", "mistral", "--tool-call-parser")]
    public void A_bad_option_is_a_usage_error_naming_it(string option, string value, string named)
    {
        using Process p = Start("serve", "-m", TestData.Stories260K, option, value);
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(2, p.ExitCode);
        Assert.Contains(named, stderr);
        Assert.DoesNotContain("serving", stderr);
    }

    [Fact]
    public void A_port_in_use_is_a_failure_naming_the_port()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        string taken = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using Process p = Start("serve", "-m", TestData.Stories260K, "--port", taken);
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(1, p.ExitCode);
        Assert.Contains($"copal: error: --port {taken}: cannot listen on 127.0.0.1:{taken}", stderr);
        Assert.DoesNotContain("internal error", stderr);
    }

    [Fact]
    public void A_chat_template_with_an_unsupported_construct_stops_the_server_naming_it()
    {
        using var dir = new TempDir("copal-serve-tpl-");
        TestData.CopyOfStories260K(dir.Path);
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"chat_template": "{% include 'x.j2' %}"}""");
        using Process p = Start("serve", "-m", dir.Path, "--port", "0");
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("tokenizer_config.json: chat template line 1, column 4: statement '{% include %}' is not supported", stderr);
        Assert.DoesNotContain("internal error", stderr);
    }

    [Fact]
    public void An_internal_error_gives_the_client_no_dotnet_text()
    {
        (int status, System.Text.Json.Nodes.JsonObject body) = Copal.Cli.Serving.OpenAiErrors.ErrorObject(new InvalidCastException("Unable to cast object of type 'System.String'"));
        Assert.Equal(500, status);
        string message = (string)body["error"]!["message"]!;
        Assert.StartsWith("internal error", message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", message, StringComparison.Ordinal);
        Assert.Equal("server_error", (string?)body["error"]!["type"]);
        // Non-finite logits are the model's failure, not ours: the client is told which step.
        var nonFinite = Assert.Throws<Copal.Model.Inference.NonFiniteLogitsException>(
            () => Copal.Model.Inference.NonFiniteLogitsException.ThrowIfAny([1f, float.NaN], 2, _ => "at step 3"));
        Assert.Equal(nonFinite.Message, (string?)Copal.Cli.Serving.OpenAiErrors.ErrorObject(nonFinite).Body["error"]!["message"]);
        Assert.Contains("step 3", nonFinite.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_conversation_the_chat_template_refuses_is_a_bad_request()
    {
        var template = new Copal.Model.ChatTemplates.ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}");
        Exception e = Assert.ThrowsAny<Exception>(() => new Copal.Model.Chat.TemplateChatFormatter(template).Format([new Copal.Model.Chat.ChatTurn("user", "hi")]));
        (int status, System.Text.Json.Nodes.JsonObject body) = Copal.Cli.Serving.OpenAiErrors.ErrorObject(e);
        Assert.Equal(400, status);
        Assert.Equal("Conversation roles must alternate", (string?)body["error"]!["message"]);
        Assert.Equal("invalid_request_error", (string?)body["error"]!["type"]);
    }

    /// <summary>
    /// A template that fails by itself (here past its step budget) is the server's failure, told by the template's own
    /// message so its operator can fix it; before, the client got "internal error" and the log a bug report.
    /// </summary>
    [Fact]
    public void A_chat_template_that_fails_by_itself_is_a_server_error_naming_where()
    {
        var template = new Copal.Model.ChatTemplates.ChatTemplate("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}");
        Exception e = Assert.ThrowsAny<Exception>(() => new Copal.Model.Chat.TemplateChatFormatter(template).Format([new Copal.Model.Chat.ChatTurn("user", "hi")]));
        (int status, System.Text.Json.Nodes.JsonObject body) = Copal.Cli.Serving.OpenAiErrors.ErrorObject(e);
        Assert.Equal(500, status);
        Assert.Equal(e.Message, (string?)body["error"]!["message"]);
        Assert.Contains("rendering takes more than 10000000 steps", e.Message, StringComparison.Ordinal);
        Assert.Equal("server_error", (string?)body["error"]!["type"]);
    }

    [Fact]
    public async Task Serve_prints_its_address_answers_and_stops_on_sigterm()
    {
        using Process p = Start("serve", "-m", TestData.Stories260K, "--port", "0", "--parallel", "2", "--prefix-cache", "off");
        string? address = null;
        var stderr = new System.Text.StringBuilder();
        while (address is null && p.StandardError.ReadLine() is string line)
        {
            stderr.AppendLine(line);
            Match m = Address().Match(line);
            if (m.Success)
            {
                address = m.Value;
            }
        }
        try
        {
            Assert.NotNull(address);
            using var http = new HttpClient();
            string health = await http.GetStringAsync(new Uri(new Uri(address), "/health"));
            Assert.Equal(2, JsonDocument.Parse(health).RootElement.GetProperty("parallel").GetInt32());
            Assert.False(JsonDocument.Parse(health).RootElement.GetProperty("prefix_cache").GetBoolean());
        }
        finally
        {
            using Process kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            kill.WaitForExit();
        }
        stderr.Append(p.StandardError.ReadToEnd());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), stderr.ToString());
        Assert.Equal(143, p.ExitCode);
        Assert.Equal("", p.StandardOutput.ReadToEnd());
        Assert.Contains("server stopped", stderr.ToString());
    }

    /// <summary>
    /// The tool-call format is read from the model's own template at start (hermes, or Qwen3-Coder's), said, and used;
    /// --tool-call-parser none refuses tools.
    /// </summary>
    [Fact]
    public async Task Serve_reads_the_tool_call_format_from_the_template_and_none_refuses_tools()
    {
        using var dir = new TempDir("copal-serve-tools-");
        TestData.CopyOfStories260K(dir.Path);
        const string Hermes = "Call as <tool_call>{\"name\": ...}</tool_call>";
        const string Qwen3Coder = "Call as <tool_call>\n<function=NAME>\n<parameter=P>\nvalue\n</parameter>\n</function>\n</tool_call>";
        const string Tools = "{\"model\":\"" + "{0}" + "\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],"
            + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]}";
        string model = Path.GetFileName(dir.Path);
        foreach ((string teaches, string parser, string? said) in new[]
        {
            (Hermes, "auto", "hermes (its chat template writes <tool_call> blocks)"),
            (Hermes, "none", null),
            (Qwen3Coder, "auto", "qwen3_coder (its chat template writes Qwen3-Coder's <tool_call> blocks of <function=…> and <parameter=…>)"),
        })
        {
            File.WriteAllText(dir.File("tokenizer_config.json"), JsonSerializer.Serialize(new
            {
                chat_template = "{% if tools %}{% for t in tools %}{{ t | tojson }}{% endfor %}" + teaches + "\n{% endif %}"
                    + "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:",
            }));
            using Process p = Start("serve", "-m", dir.Path, "--port", "0", "--tool-call-parser", parser);
            (Uri address, Task<string> stderr) = ReadAddress(p);
            int status;
            try
            {
                using var http = new HttpClient();
                using var content = new StringContent(Tools.Replace("{0}", model, StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json");
                using HttpResponseMessage r = await http.PostAsync(new Uri(address, "/v1/chat/completions"), content);
                status = (int)r.StatusCode;
            }
            finally
            {
                Signal(p, "TERM");
            }
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
            string log = await stderr;
            if (said is not null)
            {
                Assert.Equal(200, status);
                Assert.Contains("copal: tool calls read as " + said, log);
            }
            else
            {
                Assert.Equal(400, status);
                Assert.DoesNotContain("tool calls read as", log);
            }
        }
    }

    [Fact]
    public async Task A_repeated_prompt_comes_from_the_prefix_cache_and_the_stop_line_counts_it()
    {
        using Process p = Start("serve", "-m", TestData.Stories260K, "--port", "0", "--parallel", "1");
        (Uri address, Task<string> stderr) = ReadAddress(p);
        var replies = new List<string>();
        var cached = new List<int>();
        try
        {
            using var http = new HttpClient();
            string body = JsonSerializer.Serialize(new { model = "stories260K", prompt = Enumerable.Range(0, 300).Select(i => 3 + (i * 37 % 500)), max_tokens = 4, temperature = 0 });
            for (int i = 0; i < 2; i++)
            {
                using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
                using HttpResponseMessage r = await http.PostAsync(new Uri(address, "/v1/completions"), content);
                string json = await r.Content.ReadAsStringAsync();
                Assert.True(r.IsSuccessStatusCode, json);
                JsonElement root = JsonDocument.Parse(json).RootElement;
                replies.Add(root.GetProperty("choices")[0].GetProperty("text").GetString()!);
                cached.Add(root.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
            }
        }
        finally
        {
            Signal(p, "TERM");
        }
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(replies[0], replies[1]);
        Assert.Equal([0, 256], cached);
        // Two whole chunks of the second prompt were the first's; its last 44 tokens ran again.
        Assert.Contains("server stopped after 2 completion requests; 256 of 600 prompt tokens came from the prefix cache", await stderr);
    }

    [Fact]
    public async Task Sigterm_cancels_the_generations_in_flight_answers_their_clients_and_exits_143()
    {
        // A model whose context is long enough that a greedy completion of "Once" runs on for minutes (stories260K
        // meets no end-of-sequence token in its first thousands of greedy tokens), so both requests are still
        // generating when the signal comes, whatever the machine's speed.
        using var dir = new TempDir("copal-serve-term-");
        TestData.CopyOfStories260K(dir.Path);
        string config = dir.File("config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 131072", StringComparison.Ordinal));
        Assert.Contains("131072", File.ReadAllText(config));
        await SignalDuringGenerationAsync(dir.Path);
    }

    private static async Task SignalDuringGenerationAsync(string model)
    {
        using Process p = Start("serve", "-m", model, "--port", "0", "--parallel", "2");
        try
        {
            (Uri address, Task<string> stderr) = ReadAddress(p);
            string name = Path.GetFileName(model);
            string Body(bool stream) => JsonSerializer.Serialize(new { model = name, prompt = "Once", max_tokens = 100_000, temperature = 0, stream });
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
            using var streamContent = new StringContent(Body(stream: true), System.Text.Encoding.UTF8, "application/json");
            using var streamRequest = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "/v1/completions")) { Content = streamContent };
            using HttpResponseMessage streamed = await http.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(200, (int)streamed.StatusCode);
            using var events = new StreamReader(await streamed.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: {", await events.ReadLineAsync());
            using var whole = new StringContent(Body(stream: false), System.Text.Encoding.UTF8, "application/json");
            Task<HttpResponseMessage> waiting = http.PostAsync(new Uri(address, "/v1/completions"), whole);
            // Both requests generating (a bounded wait for the second to be admitted, not a timing assertion).
            var admitted = Stopwatch.StartNew();
            while (JsonDocument.Parse(await http.GetStringAsync(new Uri(address, "/health"))).RootElement.GetProperty("active").GetInt32() < 2)
            {
                Assert.True(admitted.Elapsed < TimeSpan.FromMinutes(1), "the second request never started generating");
                Assert.False(waiting.IsCompleted, "the non-streaming request ended before the signal");
                await Task.Delay(50);
            }

            Signal(p, "TERM");

            // Stopping is functional, not a speed figure: a bound a loaded host cannot reach. A server that waited for its
            // generations would be cut off by the host's 30 s shutdown timeout instead, and its clients would then get a
            // reset, not the 503 and the error event checked below.
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "copal serve did not stop on SIGTERM while generating");
            Assert.Equal(143, p.ExitCode);
            Assert.Contains("server stopped after 2 completion requests", await stderr);

            // The non-streaming client got an error in OpenAI's shape, the streaming one an error event and the end.
            using HttpResponseMessage stopped = await waiting;
            Assert.Equal(503, (int)stopped.StatusCode);
            JsonElement error = JsonDocument.Parse(await stopped.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("server_error", error.GetProperty("type").GetString());
            Assert.Contains("stopping", error.GetProperty("message").GetString());
            string rest = await events.ReadToEndAsync();
            string[] data = [.. rest.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
            Assert.Equal("data: [DONE]", data[^1]);
            JsonElement last = JsonDocument.Parse(data[^2]["data: ".Length..]).RootElement;
            Assert.Equal("server_error", last.GetProperty("error").GetProperty("type").GetString());
            Assert.DoesNotContain("\"finish_reason\":\"", rest);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Localhost_with_port_0_listens_on_one_free_port_of_each_loopback()
    {
        using Process p = Start("serve", "-m", TestData.Stories260K, "--host", "localhost", "--port", "0");
        try
        {
            (Uri address, Task<string> stderr) = ReadAddress(p);
            Assert.Equal("localhost", address.Host);
            Assert.NotEqual(0, address.Port);
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(1) };
            var loopbacks = new List<string> { "127.0.0.1" };
            if (HasIpv6Loopback())
            {
                loopbacks.Add("[::1]");
            }
            foreach (string loopback in loopbacks)
            {
                string health = await http.GetStringAsync(new Uri($"http://{loopback}:{address.Port}/health"));
                Assert.Equal("ok", JsonDocument.Parse(health).RootElement.GetProperty("status").GetString());
            }
            Signal(p, "TERM");
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), await stderr);
            Assert.Equal(143, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }

    private static bool HasIpv6Loopback()
    {
        try
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>The address the server prints once it listens; the rest of stderr is read on in the background.</summary>
    private static (Uri Address, Task<string> Stderr) ReadAddress(Process p)
    {
        var head = new System.Text.StringBuilder();
        while (p.StandardError.ReadLine() is string line)
        {
            head.AppendLine(line);
            Match m = ServedAddress().Match(line);
            if (m.Success)
            {
                async Task<string> Rest() => head + await p.StandardError.ReadToEndAsync();
                return (new Uri(m.Groups[1].Value), Rest());
            }
        }
        throw new Xunit.Sdk.XunitException($"copal serve printed no address:\n{head}");
    }

    private static void Signal(Process p, string signal)
    {
        using Process kill = Process.Start("kill", [$"-{signal}", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(200)]
    public void Bench_serve_reports_single_and_concurrent_decode_rates_and_first_token_times(int promptTokens)
    {
        using Process p = Start("bench", "serve", "-m", TestData.Stories260K, "--streams", "3", "--prompt-tokens", promptTokens.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--decode", "16", "--repeat", "2", "--device", "cpu", "--json");
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)));
        Assert.True(p.ExitCode == 0, stderr);
        JsonElement r = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(3, r.GetProperty("streams").GetInt32());
        foreach (string field in new[] { "single_decode_tokens_per_second", "aggregate_decode_tokens_per_second", "speedup", "first_token_median_seconds", "first_token_max_seconds" })
        {
            Assert.True(r.GetProperty(field).GetDouble() > 0, $"{field} in {stdout}");
        }
        Assert.True(r.GetProperty("first_token_max_seconds").GetDouble() >= r.GetProperty("first_token_median_seconds").GetDouble());
        // Two interleaved rounds: the speedup is the median (here the mean) of theirs.
        Assert.Equal(2, r.GetProperty("rounds").GetInt32());
        double[] rounds = [.. r.GetProperty("round_speedups").EnumerateArray().Select(e => e.GetDouble())];
        Assert.Equal(2, rounds.Length);
        Assert.Equal((rounds[0] + rounds[1]) / 2, r.GetProperty("speedup").GetDouble(), 12);
        // A chat's next turn is timed where the prompt holds a whole prefill chunk for the prefix cache to keep.
        if (promptTokens < 128)
        {
            Assert.Equal(JsonValueKind.Null, r.GetProperty("next_turn_first_token_seconds").ValueKind);
            Assert.Equal(JsonValueKind.Null, r.GetProperty("next_turn_round_ratios").ValueKind);
            Assert.Equal(JsonValueKind.Null, r.GetProperty("next_turn_cached_tokens").ValueKind);
        }
        else
        {
            Assert.True(r.GetProperty("next_turn_first_token_seconds").GetDouble() > 0, stdout);
            Assert.True(r.GetProperty("next_turn_first_token_without_cache_seconds").GetDouble() > 0, stdout);
            Assert.Equal(2, r.GetProperty("next_turn_round_ratios").GetArrayLength());
            // The timed turn did reuse the prompt's whole chunk (200 tokens hold one of 128).
            Assert.Equal(128, r.GetProperty("next_turn_cached_tokens").GetInt32());
        }
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex Address();

    [GeneratedRegex(@"serving '[^']*' on (http://\S+/) ")]
    private static partial Regex ServedAddress();
}
