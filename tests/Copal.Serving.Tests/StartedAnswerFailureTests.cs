using Copal.Cli.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Copal.Serving.Tests;

/// <summary>
/// An answer that fails after its response has started (a tokenizer endpoint's large answer starts before it is
/// written, TokenizeEndpoints.AnswerLargeAsync): the status is sent, so no error answer can replace it. The client must
/// still learn that the answer is broken, as Kestrel tells it of any failure after the start (the connection ends
/// without the chunked body's last chunk): a 200 whose body ends cleanly, cut off mid-JSON, reads as a whole answer.
/// </summary>
public sealed class StartedAnswerFailureTests
{
    [Fact]
    public async Task A_failure_after_the_answer_started_breaks_the_response_rather_than_ending_it_as_complete()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using WebApplication app = builder.Build();
        var counts = new RequestCounts();
        app.Use(new ErrorMiddleware(counts).InvokeAsync);
        app.MapGet("/half", async c =>
        {
            c.Response.StatusCode = 200;
            c.Response.ContentType = "application/json";
            await c.Response.StartAsync();
            await c.Response.WriteAsync("{\"tokens\":[1,2,");
            await c.Response.Body.FlushAsync();
            throw new InvalidOperationException("failed mid-answer");
        });
        await app.StartAsync();
        var address = new Uri(app.Urls.Single());
        using var http = new HttpClient();

        // Reading the answer to its end fails (or, where the connection's reset overtakes the status line, the request
        // does): the server did not end the body as if it were whole.
        string? read = null;
        Exception? thrown = await Record.ExceptionAsync(async () =>
        {
            using HttpResponseMessage response = await http.GetAsync(new Uri(address, "/half"), HttpCompletionOption.ResponseHeadersRead);
            read = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        });
        Assert.True(thrown is HttpRequestException or IOException, $"the cut-off answer read as complete: {read ?? thrown?.ToString()}");
        Assert.Equal(1, counts.Errors);
        await app.StopAsync();
    }
}
