using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// The server parses and handles at most a budget of body bytes at once (<see cref="BodyBudget"/>): past it a body
/// waits its turn, so N clients sending bodies at the limit cannot ask N times a body's peak of the host at once.
/// </summary>
public sealed class BodyBudgetTests
{
    [Fact]
    public async Task Bodies_within_the_budget_go_together_and_the_next_waits_for_room()
    {
        var budget = new BodyBudget(100);
        BodyBudget.Lease a = await budget.TakeAsync(60, CancellationToken.None);
        BodyBudget.Lease b = await budget.TakeAsync(40, CancellationToken.None);
        ValueTask<BodyBudget.Lease> c = budget.TakeAsync(1, CancellationToken.None);
        Assert.False(c.IsCompleted);
        Assert.Equal(1, budget.Waiting);
        b.Dispose();
        (await c).Dispose();
        a.Dispose();
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public async Task Once_no_body_is_handled_after_a_large_one_the_server_is_told_once()
    {
        const long Large = LargeBodyThread.Bytes;
        int told = 0;
        var budget = new BodyBudget(4 * Large, afterLarge: () => told++);
        (await budget.TakeAsync(10, CancellationToken.None)).Dispose();
        Assert.Equal(0, told); // small bodies leave nothing worth a collection
        BodyBudget.Lease large = await budget.TakeAsync(Large, CancellationToken.None);
        BodyBudget.Lease small = await budget.TakeAsync(10, CancellationToken.None);
        large.Dispose();
        large.Dispose();
        Assert.Equal(0, told); // another body is still handled
        small.Dispose();
        Assert.Equal(1, told);
        (await budget.TakeAsync(10, CancellationToken.None)).Dispose();
        Assert.Equal(1, told);
    }

    [Fact]
    public async Task A_waiting_body_is_not_overtaken_by_a_smaller_one()
    {
        var budget = new BodyBudget(100);
        BodyBudget.Lease first = await budget.TakeAsync(90, CancellationToken.None);
        ValueTask<BodyBudget.Lease> large = budget.TakeAsync(50, CancellationToken.None);
        ValueTask<BodyBudget.Lease> small = budget.TakeAsync(5, CancellationToken.None);
        Assert.False(small.IsCompleted);
        first.Dispose();
        using BodyBudget.Lease l = await large;
        using BodyBudget.Lease s = await small;
        Assert.Equal(55, budget.Used);
    }

    [Fact]
    public async Task A_body_past_the_whole_budget_goes_alone()
    {
        var budget = new BodyBudget(100);
        BodyBudget.Lease small = await budget.TakeAsync(10, CancellationToken.None);
        ValueTask<BodyBudget.Lease> huge = budget.TakeAsync(500, CancellationToken.None);
        Assert.False(huge.IsCompleted);
        small.Dispose();
        using BodyBudget.Lease h = await huge;
        Assert.Equal(500, budget.Used);
    }

    [Fact]
    public async Task A_wait_that_is_cancelled_gives_its_place_to_the_bodies_behind_it()
    {
        var budget = new BodyBudget(100);
        BodyBudget.Lease first = await budget.TakeAsync(90, CancellationToken.None);
        using var leaving = new CancellationTokenSource();
        ValueTask<BodyBudget.Lease> gone = budget.TakeAsync(50, leaving.Token);
        ValueTask<BodyBudget.Lease> next = budget.TakeAsync(10, CancellationToken.None);
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gone);
        using BodyBudget.Lease n = await next;
        first.Dispose();
        Assert.Equal(10, budget.Used);
        Assert.Equal(0, budget.Waiting);
    }

    /// <summary>
    /// Through the server: a /detokenize whose body finds the budget taken waits, and once the budget frees it gets
    /// the answer it gets alone, byte for byte.
    /// </summary>
    [Fact]
    public async Task A_request_waits_for_the_budget_and_then_gets_its_answer()
    {
        await using RawHttpServer raw = await RawHttpServer.StartAsync();
        using var http = new HttpClient();
        Uri url = new(raw.Server.Address, "/detokenize");
        string alone = await (await http.PostAsync(url, Json("{\"tokens\":[300,301,302]}"))).Content.ReadAsStringAsync();
        BodyBudget.Lease all = await raw.Server.Bodies.TakeAsync(raw.Server.Bodies.Bytes, CancellationToken.None);
        Task<HttpResponseMessage> waiting = http.PostAsync(url, Json("{\"tokens\":[300,301,302]}"));
        while (raw.Server.Bodies.Waiting == 0)
        {
            Assert.False(waiting.IsCompleted, "the request was answered while the budget was taken");
            await Task.Delay(10);
        }
        Assert.False(waiting.IsCompleted);
        all.Dispose();
        HttpResponseMessage answer = await waiting;
        Assert.Equal(200, (int)answer.StatusCode);
        Assert.Equal(alone, await answer.Content.ReadAsStringAsync());
        Assert.Equal(0, raw.Server.Bodies.Used);
    }

    /// <summary>
    /// A client slow to read a large answer (a /tokenize's ids, twice its body here) does not hold the budget while
    /// its answer drains: the answer's bytes are all written by then and the parse's memory is garbage, so the budget
    /// would only stop every other request with a body (a chat's few hundred bytes) for as long as that client took.
    /// One client reading 32 KB a second held every POST for the twenty minutes of a 30 MB /tokenize's answer. The
    /// large answer still reaches its client whole.
    /// </summary>
    [Fact]
    public async Task A_client_slow_to_read_a_large_answer_does_not_hold_the_budget()
    {
        // 2 tokens of 4 bytes each for every 4 body bytes: 16 MB of answer, past what the sockets between hold.
        byte[] large = Encoding.UTF8.GetBytes("{\"prompt\":\"" + string.Concat(Enumerable.Repeat("q z ", 2_000_000)) + "\"}");
        // The large body fills the budget, so the small one waits behind it until its lease is given back.
        await using RawHttpServer raw = await RawHttpServer.StartAsync(bodyBudget: large.Length);
        BodyBudget.Lease all = await raw.Server.Bodies.TakeAsync(raw.Server.Bodies.Bytes, CancellationToken.None);
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(raw.Server.Address.Host, raw.Server.Address.Port);
        await slow.SendAsync(Encoding.ASCII.GetBytes(
            $"POST /tokenize HTTP/1.1\r\nHost: {raw.Server.Address.Authority}\r\nContent-Type: application/json\r\nContent-Length: {large.Length}\r\nConnection: close\r\n\r\n"));
        await slow.SendAsync(large);
        await WaitingAsync(raw.Server.Bodies, 1);
        using var http = new HttpClient();
        Task<HttpResponseMessage> small = http.PostAsync(new Uri(raw.Server.Address, "/detokenize"), Json("{\"tokens\":[300]}"));
        await WaitingAsync(raw.Server.Bodies, 2);
        all.Dispose();

        // Answered while the slow client has read nothing of its answer.
        HttpResponseMessage answer = await small;
        Assert.Equal(200, (int)answer.StatusCode);
        Assert.Equal("{\"prompt\":\"ha\"}", await answer.Content.ReadAsStringAsync());
        byte[] received = await ReceiveAllAsync(slow);
        string head = Encoding.ASCII.GetString(received, 0, 64);
        Assert.StartsWith("HTTP/1.1 200 OK", head, StringComparison.Ordinal);
        Assert.True(Encoding.ASCII.GetString(received[^16..]).EndsWith("]}\r\n0\r\n\r\n", StringComparison.Ordinal), "the large answer was cut off");
        Assert.Equal(0, raw.Server.Bodies.Used);
    }

    /// <summary>An operator sees the budget, what is taken of it and the bodies waiting for it in /metrics.</summary>
    [Fact]
    public async Task Metrics_show_the_budget_and_the_bodies_waiting_for_it()
    {
        await using RawHttpServer raw = await RawHttpServer.StartAsync(bodyBudget: 1000);
        using var http = new HttpClient();
        Uri metrics = new(raw.Server.Address, "/metrics");
        BodyBudget.Lease all = await raw.Server.Bodies.TakeAsync(1000, CancellationToken.None);
        Task<HttpResponseMessage> waiting = http.PostAsync(new Uri(raw.Server.Address, "/detokenize"), Json("{\"tokens\":[300]}"));
        await WaitingAsync(raw.Server.Bodies, 1);
        Assert.Equal((1000, 1000, 1), Gauges(await http.GetStringAsync(metrics)));
        all.Dispose();
        Assert.Equal(200, (int)(await waiting).StatusCode);
        Assert.Equal((1000, 0, 0), Gauges(await http.GetStringAsync(metrics)));

        static (long Budget, long Used, long Waiting) Gauges(string text)
        {
            long Value(string name) => long.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            return (Value("copal_request_body_budget_bytes"), Value("copal_request_body_bytes"), Value("copal_request_bodies_waiting"));
        }
    }

    private static async Task WaitingAsync(BodyBudget budget, int waiting)
    {
        while (budget.Waiting < waiting)
        {
            await Task.Delay(10);
        }
    }

    private static async Task<byte[]> ReceiveAllAsync(Socket client)
    {
        using var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await client.ReceiveAsync(buffer)) > 0)
        {
            all.Write(buffer, 0, read);
        }
        return all.ToArray();
    }

    private static ByteArrayContent Json(string json)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
