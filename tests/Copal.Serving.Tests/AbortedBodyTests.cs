using System.Globalization;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// A client that goes away while its request's body is still arriving is a client that left, as one that leaves
/// during its generation is: /metrics counts it in copal_requests_aborted_total, not as a request answered with an
/// error (there is no one left to answer).
/// </summary>
public sealed class AbortedBodyTests
{
    /// <summary>
    /// A body announced by its length, or sent in chunks, which have no length to fall short of: a reset during a
    /// chunked body was answered as a bug of ours (a 500 and "internal error ..., please report it" with a stack trace
    /// on the server's standard error), and a close during one, which Kestrel reports as its 400 "unexpected end of
    /// request content" unless it noticed the closed connection first, was counted as an error most of the time.
    /// </summary>
    [Theory]
    [InlineData(false, false)] // closed: the server reads the end of the stream before the body's length
    [InlineData(false, true)]  // reset: the connection is torn down
    [InlineData(true, false)]  // chunked, closed: the stream ends before the last chunk
    [InlineData(true, true)]   // chunked, reset
    public async Task A_client_that_leaves_during_its_body_counts_as_aborted_not_as_an_error(bool chunked, bool reset)
    {
        await using RawHttpServer raw = await RawHttpServer.StartAsync();
        using (Socket client = await raw.ConnectAsync())
        {
            // 100 bytes announced, or chunks. The server sends 100 Continue once the handler reads the body: the client
            // then sends 14 bytes of it and leaves while the handler waits for the rest.
            string framing = chunked ? "Transfer-Encoding: chunked" : "Content-Length: 100";
            await client.SendAsync(Encoding.ASCII.GetBytes(raw.CompletionsHead($"{framing}\r\nExpect: 100-continue")));
            var answer = new byte[256];
            int read = await client.ReceiveAsync(answer);
            Assert.StartsWith("HTTP/1.1 100 Continue", Encoding.ASCII.GetString(answer, 0, read));
            await client.SendAsync(Encoding.ASCII.GetBytes(chunked ? "e\r\n{\"model\": \"sto\r\n" : "{\"model\": \"sto"));
            if (reset)
            {
                client.LingerState = new LingerOption(true, 0);
            }
            client.Close();
        }
        await AssertCountedAsAborted(raw.Server);
    }

    /// <summary>A chunk that is not one, from a client still there, is Kestrel's 400 to that client, not a client that left.</summary>
    [Fact]
    public async Task A_malformed_chunk_is_a_400_answered_to_the_client()
    {
        await using RawHttpServer raw = await RawHttpServer.StartAsync();
        using Socket client = await raw.ConnectAsync();
        await client.SendAsync(Encoding.ASCII.GetBytes(raw.CompletionsHead("Transfer-Encoding: chunked") + "zz\r\n{}\r\n"));
        var answer = new byte[4096];
        int read = await client.ReceiveAsync(answer);
        Assert.StartsWith("HTTP/1.1 400", Encoding.ASCII.GetString(answer, 0, read));
    }

    private static async Task AssertCountedAsAborted(OpenAiServer server)
    {
        // The server notices in the background: a bounded wait for either count, not a timing assertion.
        using var http = new HttpClient();
        var waited = Stopwatch.StartNew();
        long aborted, errors;
        do
        {
            await Task.Delay(20);
            string metrics = await http.GetStringAsync(new Uri(server.Address, "/metrics"));
            aborted = Value(metrics, "copal_requests_aborted_total");
            errors = Value(metrics, "copal_request_errors_total");
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(1), "the server never counted the request");
        }
        while (aborted + errors == 0);
        Assert.Equal(0, errors);
        Assert.Equal(1, aborted);
    }

    private static long Value(string metrics, string name) =>
        long.Parse(metrics.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
}
