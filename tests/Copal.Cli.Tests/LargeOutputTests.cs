using System.Text.Json;
using Copal.Cli.Commands;
using Copal.Cli.Infrastructure;

namespace Copal.Cli.Tests;

/// <summary>
/// A large result (tokenize's ids of a file of tens of megabytes: 11.5 million ids for 52 MB of WikiText) is written
/// as it is made: the JSON document and the line of ids were each built whole as a string first, several times the
/// ids' own memory (the indented document of 11.5 million ids is 113 million characters).
/// </summary>
public sealed class LargeOutputTests
{
    private static readonly int[] s_ids = [.. Enumerable.Range(0, 1 << 20).Select(i => i % 128_000)];

    [Fact]
    public void A_json_document_is_serialized_into_the_output_as_it_goes()
    {
        var document = new { count = s_ids.Length, ids = s_ids, tokens = (string[]?)null };
        Out.Json(document, TextWriter.Null);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Out.Json(document, TextWriter.Null);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);

        // The same document, as the serializer writes it whole.
        var text = new StringWriter();
        Out.Json(new { count = 3, ids = new[] { 1, 2, 3 }, tokens = new[] { "a\"", "▁b", "\n" } }, text);
        Assert.Equal(JsonSerializer.Serialize(new { count = 3, ids = new[] { 1, 2, 3 }, tokens = new[] { "a\"", "▁b", "\n" } }, Out.JsonOptions)
            + Environment.NewLine, text.ToString());
    }

    [Fact]
    public void Tokenize_writes_its_line_of_ids_a_block_at_a_time()
    {
        TokenizeCommand.WriteIds(TextWriter.Null, s_ids);
        long before = GC.GetAllocatedBytesForCurrentThread();
        TokenizeCommand.WriteIds(TextWriter.Null, s_ids);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);

        var text = new StringWriter();
        TokenizeCommand.WriteIds(text, s_ids.AsSpan(0, 10_000));
        Assert.Equal(string.Join(' ', s_ids.Take(10_000)) + Environment.NewLine, text.ToString());
        var none = new StringWriter();
        TokenizeCommand.WriteIds(none, []);
        Assert.Equal(Environment.NewLine, none.ToString());
    }
}
