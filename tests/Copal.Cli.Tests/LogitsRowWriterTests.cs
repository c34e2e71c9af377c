using System.Text.Json;
using Copal.Cli.Commands;
using Copal.Cli.Infrastructure;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>copal logits</c> writes each position's row from the logits themselves: no copy of the row and no string of it
/// (at a 128k vocabulary 0.5 MB and 3 MB of garbage a position, which got a 600-token text killed in a 200 MB container
/// that a short text runs in with 83), and the same text the serializer writes for the row.
/// </summary>
public sealed class LogitsRowWriterTests
{
    private static readonly float[] s_row = [.. Enumerable.Range(0, 128_256).Select(i => MathF.Sin(i * 0.37f) * 12.5f)];

    [Fact]
    public void A_full_row_is_written_without_a_copy_or_a_string_of_it()
    {
        using var rows = new LogitsRowWriter(TextWriter.Null);
        rows.Write(s_row, 0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        rows.Write(s_row, 0);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64 << 10);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void A_row_reads_as_the_serializer_writes_it(int k)
    {
        float[] row = [.. s_row.Take(1000), 1e-30f, -3.4e38f, 0f, -0f, 1f / 3];
        var text = new StringWriter();
        using (var rows = new LogitsRowWriter(text))
        {
            rows.Write(row, k);
            text.Write(',');
            rows.Write(row, k);
        }
        string one = k == 0 ? JsonSerializer.Serialize(row, Out.CompactJsonOptions)
            : JsonSerializer.Serialize(TopLogprobs.Of(row, k).Select(t => new { id = t.Id, logprob = t.Logprob }).ToArray(), Out.CompactJsonOptions);
        Assert.Equal(one + "," + one, text.ToString());
    }
}
