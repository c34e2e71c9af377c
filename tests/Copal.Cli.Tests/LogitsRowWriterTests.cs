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

    /// <summary>
    /// The k likeliest ids, the likeliest first and ties by lower id, each with its logit minus the row's log-sum-exp;
    /// checked against numbers worked out here, not against TopLogprobs itself.
    /// </summary>
    [Fact]
    public void Top_logprobs_rank_ties_by_lower_id_and_subtract_the_log_sum_exp()
    {
        float[] row = [1f, 3f, 3f, 2f, 3f];
        double lse = Math.Log(Math.Exp(1) + (3 * Math.Exp(3)) + Math.Exp(2));
        (int Id, double Logprob)[] top = TopLogprobs.Of(row, 2);
        Assert.Equal([1, 2], top.Select(t => t.Id));
        Assert.All(top, t => Assert.Equal(3 - lse, t.Logprob, 1e-12));
        Assert.Equal([1, 2, 4, 3], TopLogprobs.Of(row, 4).Select(t => t.Id));
    }

    /// <summary>--top-k 1 writes the one likeliest entry, not the full row (only 0 asks for that).</summary>
    [Fact]
    public void Top_k_1_writes_one_entry()
    {
        var text = new StringWriter();
        using (var rows = new LogitsRowWriter(text))
        {
            rows.Write([0f, 2f, 1f], 1);
        }
        using JsonDocument doc = JsonDocument.Parse(text.ToString());
        JsonElement entry = Assert.Single(doc.RootElement.EnumerateArray().ToArray());
        Assert.Equal(1, entry.GetProperty("id").GetInt32());
    }
}
