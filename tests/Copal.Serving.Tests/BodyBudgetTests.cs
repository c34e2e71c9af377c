using System.Net.Http.Headers;
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

    private static ByteArrayContent Json(string json)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
