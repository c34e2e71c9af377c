using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Copal.Serving.Tests;

public sealed partial class ServeCommandTests
{
    /// <summary>
    /// A streaming client that stops reading leaves its answer stuck in the server's socket. SIGTERM must still end the
    /// server: the stuck answer is cut off (its connection aborted) rather than waited for. The host's own shutdown
    /// timeout, which would end that wait after 30 s by default, is set to ten minutes here, so only the server's own
    /// handling can end it within the test's bound.
    /// </summary>
    [Fact]
    public async Task Sigterm_does_not_wait_for_a_client_that_stopped_reading_its_stream()
    {
        using Process p = StartWith(new Dictionary<string, string> { ["DOTNET_shutdownTimeoutSeconds"] = "600" },
            "serve", "-m", Copal.Testing.TestData.Stories260K, "--port", "0", "--parallel", "4");
        try
        {
            (Uri address, Task<string> stderr) = ReadAddress(p);
            // 32 choices × 400 tokens, each event with 20 alternatives' log-probabilities: megabytes more than the
            // socket buffers hold, the end of text banned so every choice runs to max_tokens.
            string body = JsonSerializer.Serialize(new
            {
                model = "stories260K",
                prompt = "Once upon a time",
                max_tokens = 400,
                n = 32,
                logprobs = 20,
                temperature = 1,
                seed = 1,
                logit_bias = new Dictionary<string, int> { ["2"] = -100 },
                stream = true,
            });
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await client.ConnectAsync(address.Host, address.Port);
            byte[] request = Encoding.UTF8.GetBytes(
                $"POST /v1/completions HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");
            await client.SendAsync(request);

            // The client reads nothing while every choice is generated: the server's writes are then stuck (a
            // bounded wait for the engine, not a timing assertion).
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(1) };
            var waited = Stopwatch.StartNew();
            while (Completed(await http.GetStringAsync(new Uri(address, "/metrics"))) < 32)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "the 32 choices never finished generating");
                await Task.Delay(50);
            }

            Signal(p, "TERM");

            // Functional, not a speed figure: without the cut-off the server waits for the client for ten minutes.
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "copal serve did not stop on SIGTERM while a client did not read its stream");
            Assert.Equal(143, p.ExitCode);
            Assert.Contains("server stopped after 1 completion request", await stderr);

            // What the client gets is cut short: never an answer that looks whole.
            var received = new MemoryStream();
            var buffer = new byte[1 << 16];
            try
            {
                int read;
                while ((read = await client.ReceiveAsync(buffer)) > 0)
                {
                    received.Write(buffer, 0, read);
                }
            }
            catch (SocketException)
            {
                // A reset: the connection was aborted.
            }
            Assert.DoesNotContain("data: [DONE]", Encoding.UTF8.GetString(received.ToArray()));
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>copal_sequences_completed_total in a /metrics text.</summary>
    private static long Completed(string metrics) =>
        long.Parse(metrics.Split('\n').Single(l => l.StartsWith("copal_sequences_completed_total ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
}
