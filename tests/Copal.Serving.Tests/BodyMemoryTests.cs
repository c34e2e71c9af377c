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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_body_is_read_into_one_buffer_that_follows_what_arrives(bool announced)
    {
        byte[] body = Body("[1]");
        await new RequestBody().ReadFromAsync(new Arriving(Body("[2]")), announced ? body.Length : null, CancellationToken.None);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var read = new RequestBody();
        Task reading = read.ReadFromAsync(new Arriving(body), announced ? body.Length : null, CancellationToken.None);
        Assert.True(reading.IsCompletedSuccessfully);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(body, read.Bytes.ToArray());
        Assert.Equal(body.Length, read.Length);
        // The buffer doubles from 16 KB as the body arrives, its last size the announced length where there is one:
        // its sizes sum to 2.3× this body announced, 2.5× chunked (the two it holds while it grows, 1.6×). A
        // MemoryStream grown the same way and copied whole at the end took 3.6×.
        Assert.InRange(bytes, 0, 11L * body.Length / 4);
    }

    [Fact]
    public async Task An_announced_length_is_not_allocated_before_its_bytes_arrive()
    {
        // A client that announces 30 MB and sends 10 bytes gets no 30 MB buffer.
        var read = new RequestBody();
        long before = GC.GetAllocatedBytesForCurrentThread();
        await read.ReadFromAsync(new MemoryStream(new byte[10]), 30_000_000, CancellationToken.None);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64 * 1024);
        Assert.Equal(10, read.Length);
    }

    /// <summary>A body that arrives a few kilobytes a read, as a socket's does; its reads complete at once, on this thread.</summary>
    private sealed class Arriving(byte[] body) : MemoryStream(body)
    {
        private const int Most = 4096;

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, Most));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, Most)]);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, Most), cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, Most)], cancellationToken);
    }

    private static byte[] Body(string item) =>
        Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", Enumerable.Repeat(item, Items)) + "]}");
}

/// <summary>
/// A /tokenize or /detokenize answer, as large as its body, is written as UTF-8 into the response's buffers, byte for
/// byte what the settings write: a text of it (UTF-16, twice its bytes) and that text's encoding took 4× the answer.
/// </summary>
public sealed class LargeAnswerTests
{
    [Fact]
    public void A_large_answer_is_written_without_a_text_of_it()
    {
        int[] ids = [.. Enumerable.Range(0, 250_000).Select(i => i % 32_000)];
        var answer = new System.Text.Json.Nodes.JsonObject
        {
            ["count"] = ids.Length,
            ["tokens"] = System.Text.Json.Nodes.JsonValue.Create(ids, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<int[]>)JsonSerializerOptions.Default.GetTypeInfo(typeof(int[]))),
            ["text"] = "▁Once \"upon\" a <time>\n",
        };
        var warm = new Discarding();
        JsonResponses.Write(warm, answer);
        var output = new Discarding();
        long before = GC.GetAllocatedBytesForCurrentThread();
        JsonResponses.Write(output, answer);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(warm.Written, output.Written);
        Assert.InRange(bytes, 0, output.Written / 4);

        var whole = new System.Buffers.ArrayBufferWriter<byte>();
        JsonResponses.Write(whole, answer);
        Assert.Equal(answer.ToJsonString(Copal.Cli.Infrastructure.Out.CompactJsonOptions), Encoding.UTF8.GetString(whole.WrittenSpan));
    }

    /// <summary>
    /// A long text (a /detokenize's) is written in pieces the response's buffers hold, with the same bytes: written
    /// whole, the writer asked for room for all of it at once (6 bytes a character), which the server's pipe rented
    /// from the shared pool and the pool kept (71 to 93 MB left after five /detokenize of 30 MB).
    /// </summary>
    [Theory]
    [InlineData("a")]
    [InlineData("😀")]
    [InlineData("\"<é\n\u0001")]
    [InlineData("\ud800")]
    [InlineData("x😀")]
    public void A_long_text_is_written_in_pieces_the_responses_buffers_hold(string unit)
    {
        string text = string.Concat(Enumerable.Repeat(unit, 200_000 / unit.Length)) + "\udc00 end";
        var answer = new System.Text.Json.Nodes.JsonObject { ["prompt"] = text, ["n"] = 1, ["none"] = null };
        var output = new Recording();
        JsonResponses.Write(output, answer);
        Assert.Equal(answer.ToJsonString(Copal.Cli.Infrastructure.Out.CompactJsonOptions), Encoding.UTF8.GetString(output.Bytes.WrittenSpan));
        // The writer asks for 4 KB at least, whatever it needs.
        Assert.InRange(output.LargestAsked, 0, 4096);
    }

    /// <summary>
    /// Where a segment ends (every 200 characters) on an astral character, an escape or a lone surrogate, the bytes are
    /// those the text written whole has: the text is 197 to 201 characters of 'a' before what falls on the boundary,
    /// so the boundary lands before, inside and after it, and the whole text is just under, at and just over the length
    /// that is written in segments.
    /// </summary>
    [Theory]
    [InlineData("😀")]
    [InlineData("😀😀")]
    [InlineData("\ud800")]
    [InlineData("\udc00")]
    [InlineData("\udc00\ud800")]
    [InlineData("\ud800\ud800\udc00")]
    [InlineData("\n\u0001\"\\")]
    [InlineData("é<>&'+`\u007f\u0085\u2028\ufeff")]
    public void A_text_cut_into_segments_on_any_character_has_the_bytes_of_the_whole(string atBoundary)
    {
        for (int before = JsonResponses.TextSegment - 3; before <= JsonResponses.TextSegment + 1; before++)
        {
            foreach (string after in new[] { "", "b", "😀", "\ud800", new string('c', JsonResponses.TextSegment) })
            {
                string text = new string('a', before) + atBoundary + after;
                var answer = new System.Text.Json.Nodes.JsonObject { ["prompt"] = text };
                var output = new System.Buffers.ArrayBufferWriter<byte>();
                JsonResponses.Write(output, answer);
                Assert.Equal(Encoding.UTF8.GetBytes(answer.ToJsonString(Copal.Cli.Infrastructure.Out.CompactJsonOptions)), output.WrittenSpan.ToArray());
            }
        }
    }

    /// <summary>A response's buffers that keep what is written and the most room asked for at once.</summary>
    private sealed class Recording : System.Buffers.IBufferWriter<byte>
    {
        public System.Buffers.ArrayBufferWriter<byte> Bytes { get; } = new();

        public int LargestAsked { get; private set; }

        public void Advance(int count) => Bytes.Advance(count);

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            LargestAsked = Math.Max(LargestAsked, sizeHint);
            return Bytes.GetMemory(sizeHint);
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }

    /// <summary>A response's buffers as a socket takes them: one small buffer, handed out again once written.</summary>
    private sealed class Discarding : System.Buffers.IBufferWriter<byte>
    {
        private readonly byte[] _buffer = new byte[64 * 1024];

        public long Written { get; private set; }

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => sizeHint <= _buffer.Length ? _buffer : new byte[sizeHint];

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}
