using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// A request body's arrays are counted against their bounds before their items are read: a body of 100,000 prompts, or
/// of 100,000 stop texts, is refused for its count without building one request or one string per item. Each prompt
/// became a request of its own first, and the count was checked after: a 28 MB body of <c>[[1],[1],…]</c> took 2.1 GB
/// and 17 s of a core for the 400 its count decides (1.6 GB for strings, 760 MB for stop texts).
/// </summary>
public sealed class RequestArrayBoundTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const int Items = 100_000;

    // What refusing the body costs this thread beside the parse, which takes the body's bytes once whatever is refused.
    // A request built per item is a few hundred bytes (Items of them: tens of megabytes).
    private const long MostBytes = 256 * 1024;

    [Theory]
    [InlineData("\"prompt\":[{0}]", "[1]", "prompt")]
    [InlineData("\"prompt\":[{0}]", "\"a\"", "prompt")]
    [InlineData("\"prompt\":\"a\",\"stop\":[{0}]", "\"a\"", "stop")]
    public void An_array_past_its_bound_is_refused_without_reading_its_items(string field, string item, string param)
    {
        string items = string.Join(",", Enumerable.Repeat(item, Items));
        JsonElement body = OpenAiRequests.ParseBody(Encoding.UTF8.GetBytes("{\"model\":\"stories260K\"," + string.Format(System.Globalization.CultureInfo.InvariantCulture, field, items) + "}"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        OpenAiException e = Assert.Throws<OpenAiException>(() => OpenAiRequests.Completion(body, server.Engine));
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
        Assert.Contains(Items.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
        Assert.InRange(bytes, 0, MostBytes);
    }
}
