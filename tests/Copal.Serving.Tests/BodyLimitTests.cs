using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// A body larger than the server takes (Kestrel's 30,000,000 bytes) is refused with 413 in OpenAI's error shape,
/// whether its length is announced (Content-Length) or found out while it arrives (chunked): never an empty 200,
/// which a client would read as an answer with nothing in it.
/// </summary>
public sealed class BodyLimitTests
{
    [Fact]
    public async Task A_body_announced_past_the_limit_gets_413_in_OpenAIs_error_shape()
    {
        await using RawHttpServer raw = await RawHttpServer.StartAsync();
        OpenAiServer server = raw.Server;
        using Socket client = await raw.ConnectAsync();
        // Only the headers: the server must refuse from the announced length alone, before any of the body.
        await client.SendAsync(Encoding.ASCII.GetBytes(raw.CompletionsHead("Content-Length: 40000000")));
        string answer = await ReadToCloseAsync(client);
        Assert.StartsWith("HTTP/1.1 413 ", answer, StringComparison.Ordinal);
        string body = answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        if (answer.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Unchunk(body);
        }
        JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains("30000000", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, server.Errors);
        Assert.Equal(0, server.Aborted);
    }

    private static async Task<string> ReadToCloseAsync(Socket client)
    {
        using var all = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        int read;
        while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            all.Write(buffer, 0, read);
        }
        return Encoding.UTF8.GetString(all.ToArray());
    }

    private static string Unchunk(string chunked)
    {
        var text = new StringBuilder();
        int at = 0;
        while (true)
        {
            int line = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            int size = Convert.ToInt32(chunked[at..line], 16);
            if (size == 0)
            {
                return text.ToString();
            }
            text.Append(chunked, line + 2, size);
            at = line + 2 + size + 2;
        }
    }
}
