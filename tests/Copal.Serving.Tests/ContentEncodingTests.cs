using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Copal.Serving.Tests;

/// <summary>
/// A body sent with a Content-Encoding the server does not decode (gzip, …) gets a 415 in OpenAI's shape naming the
/// header, as RFC 9110 asks of a server that cannot read a coding: the header was ignored, so gzip's bytes were
/// answered "the request body is not valid JSON at line 1, byte 1", and a JSON body labelled gzip was read as JSON.
/// </summary>
public sealed class ContentEncodingTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly byte[] s_body = Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":1}");

    [Theory]
    [InlineData("gzip", true)]
    [InlineData("gzip", false)] // a JSON body that says it is compressed
    [InlineData("br", false)]
    [InlineData("identity, gzip", true)] // a list naming a coding besides identity
    public async Task A_coded_body_gets_415_naming_the_coding(string coding, bool compress)
    {
        (int status, string text) = await PostAsync(compress ? Gzip(s_body) : s_body, coding);
        Assert.True(status == 415, text);
        JsonElement error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal($"Content-Encoding '{coding}' is not supported; send the body uncompressed", error.GetProperty("message").GetString());
    }

    /// <summary>
    /// identity is no coding however the header is written: RFC 9110's field values are case-insensitive tokens in a
    /// comma-separated list whose empty elements a recipient ignores, and a header sent on two lines reaches the server
    /// as one list. "identity, identity" and "identity," were refused with a 415 for a body that is not coded at all.
    /// </summary>
    [Theory]
    [InlineData("identity")]
    [InlineData("IDENTITY")]
    [InlineData(" Identity ")]
    [InlineData("identity, identity")]
    [InlineData("identity,")]
    [InlineData(",identity ,")]
    public async Task Identity_is_no_coding(string coding)
    {
        (int status, string text) = await PostAsync(s_body, coding);
        Assert.True(status == 200, text);
    }

    private async Task<(int Status, string Text)> PostAsync(byte[] body, string coding)
    {
        using var http = new HttpClient();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        // As sent, not as HttpClient would parse and rewrite it.
        Assert.True(content.Headers.TryAddWithoutValidation("Content-Encoding", coding));
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, "/v1/completions"), content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }
        return output.ToArray();
    }
}
