using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// What a request body costs the server beside its own bytes: the body is read into one buffer that grows with what
/// arrives (never past its announced length, and with no copy at the end), and parsed in place, its metadata (12 bytes
/// per JSON token, System.Text.Json's) the only other thing it holds. A 29.9 MB body of 7.5 million one-token prompts
/// peaked near 0.7 GB of RSS for its 400 (the body copied three times, the parsed document cloned, and a string built
/// per array item to name it in an error that was not raised); <c>docs/serving.md</c> has the figures.
/// </summary>
public sealed class BodyMemoryTests
{
    private const int Items = 100_000;

    // A bound per body byte for what this thread allocates. JsonDocument's metadata takes 12 bytes a token in an
    // array rented from the shared pool, doubled as it fills (the pool's sizes are powers of two): up to 2 × 2^k
    // bytes for the rows of a body. The bounds leave that room and refuse a copy of the metadata or a string per item.
    private const long PerByteForArrays = 24; // [1] items: 3 tokens in 4 bytes, 9 bytes of rows a body byte
    private const long PerByteForStrings = 16; // "a" items: 1 token in 4 bytes, 3 bytes of rows a body byte

    [Fact]
    public void A_body_of_token_id_prompts_is_parsed_without_a_copy_or_a_string_per_item()
    {
        byte[] body = Body("[1]");
        OpenAiRequests.ParseBody(Body("[2]")); // the parser's own first-use costs
        long before = GC.GetAllocatedBytesForCurrentThread();
        JsonElement parsed = OpenAiRequests.ParseBody(body);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Items, parsed.GetProperty("prompt").GetArrayLength());
        Assert.InRange(bytes, 0, PerByteForArrays * body.Length);
    }

    [Fact]
    public void A_body_of_text_prompts_is_checked_for_text_without_a_string_per_item()
    {
        byte[] body = Body("\"a\"");
        OpenAiRequests.ParseBody(Body("\"b\""));
        long before = GC.GetAllocatedBytesForCurrentThread();
        JsonElement parsed = OpenAiRequests.ParseBody(body);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Items, parsed.GetProperty("prompt").GetArrayLength());
        Assert.InRange(bytes, 0, PerByteForStrings * body.Length);
    }

    /// <summary>The text checks still refuse what they refused, with the same message, wherever it sits.</summary>
    [Theory]
    [InlineData("{\"prompt\":[\"a\",\"\\ud800\"]}", "prompt[1]", "prompt[1] is not valid text")]
    [InlineData("{\"prompt\":[[1],[\"\\udc00x\"]]}", "prompt[1][0]", "prompt[1][0] is not valid text")]
    [InlineData("{\"a\":{\"\\ud800\":1}}", null, "a field name in a is not valid text")]
    public void Text_that_is_not_text_is_refused_naming_where_it_is(string json, string? param, string message)
    {
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.ParseBody(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_are_not_UTF8_are_refused_naming_where_they_are()
    {
        byte[] json = [.. "{\"stop\":[\"a\",\"x"u8, 0xFF, .. "\"]}"u8];
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.ParseBody(json));
        Assert.Equal("stop[1]", e.Param);
        Assert.StartsWith("stop[1] is not valid text", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Body(string item) =>
        Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", Enumerable.Repeat(item, Items)) + "]}");
}
