using OpenAI.Chat;

namespace Copal.Serving.Tests;

/// <summary>A client that goes away mid-stream cancels its generation on the server, every choice of it.</summary>
public sealed class DisconnectTests : IAsyncLifetime, IDisposable
{
    private readonly ServerFixture _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_cancels_its_generation()
    {
        // Decode steps wait at a gate, so the generation cannot finish before the client leaves; the gate opens once
        // the server has seen the disconnect. What is asserted are the engine's counters, not timings.
        using var gate = new ManualResetEventSlim(false);
        _server.BeforeDecodeStep = () => gate.Wait();
        try
        {
            await DisconnectAsync(gate);
        }
        finally
        {
            // Never leave the scheduler waiting, whatever failed.
            _server.BeforeDecodeStep = null;
            gate.Set();
        }
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_every_choice_of_its_request()
    {
        // Two prompts × n 2: four engine requests, as many as the server's slots. The gate holds the decode steps until
        // the server has seen the client leave, so none can finish first.
        using var gate = new ManualResetEventSlim(false);
        _server.BeforeDecodeStep = () => gate.Wait();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
            string body = "{\"model\":\"stories260K\",\"prompt\":[\"Once upon a time\",\"The little dog\"],\"n\":2,\"max_tokens\":400,\"temperature\":0,\"stream\":true}";
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.Server.Address, "/v1/completions"))
            {
                Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            };
            using (HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(200, (int)response.StatusCode);
                using var events = new StreamReader(await response.Content.ReadAsStreamAsync());
                Assert.StartsWith("data: {", await events.ReadLineAsync());
            }
            // Bounded waits for the server to notice the closed connection (failure bounds, not timing assertions).
            Assert.True(SpinWait.SpinUntil(() => _server.Server.Aborted == 1, TimeSpan.FromMinutes(1)), "the server never saw the client leave");
            gate.Set();
            Assert.True(SpinWait.SpinUntil(() => _server.Engine.Statistics.Cancelled == 4, TimeSpan.FromMinutes(1)),
                $"{_server.Engine.Statistics.Cancelled} of the 4 choices were cancelled");
            Assert.Equal(4, _server.Engine.Statistics.Started);
            Assert.Equal(0, _server.Engine.Statistics.Completed);
            Assert.Equal(0, _server.Engine.Statistics.Active);
        }
        finally
        {
            _server.BeforeDecodeStep = null;
            gate.Set();
        }
    }

    private async Task DisconnectAsync(ManualResetEventSlim gate)
    {
        ChatClient chat = _server.Client().GetChatClient("stories260K");
        using var leave = new CancellationTokenSource();
        int updates = 0;
        try
        {
            await foreach (StreamingChatCompletionUpdate _ in chat.CompleteChatStreamingAsync([new UserChatMessage("Once upon a time")],
                new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 400 }, leave.Token))
            {
                updates++;
                await leave.CancelAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }
        Assert.Equal(1, updates);
        // Bounded wait for the server to notice the closed connection (a failure bound, not a timing assertion).
        Assert.True(SpinWait.SpinUntil(() => _server.Server.Aborted == 1, TimeSpan.FromMinutes(1)), "the server never saw the client leave");
        gate.Set();
        Assert.True(SpinWait.SpinUntil(() => _server.Engine.Statistics.Cancelled == 1, TimeSpan.FromMinutes(1)), "the generation was not cancelled");
        Assert.Equal(0, _server.Engine.Statistics.Completed);
        // At most the prefill's token and one step's: nowhere near the 400 asked for.
        Assert.InRange(_server.Engine.Statistics.Tokens, 1, 2);
        Assert.Equal(0, _server.Engine.Statistics.Active);

        // The server goes on serving.
        _server.BeforeDecodeStep = null;
        ChatCompletion after = (await chat.CompleteChatAsync([new UserChatMessage("Hello")], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 5 })).Value;
        Assert.NotEmpty(after.Content[0].Text);
    }
}
