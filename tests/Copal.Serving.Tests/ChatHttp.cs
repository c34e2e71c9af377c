using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>A chat completion posted to a running server over HTTP, whole or streamed.</summary>
internal static class ChatHttp
{
    /// <summary>The status and the JSON body of a chat completion.</summary>
    public static async Task<(int Status, JsonElement Body)> PostAsync(OpenAiServer server, string body)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Address, "/v1/chat/completions"), content);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>Every delta of a streamed chat reply, the opening role delta left out.</summary>
    public static async Task<List<JsonElement>> StreamDeltasAsync(OpenAiServer server, string body)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Address, "/v1/chat/completions"), content);
        Assert.Equal(200, (int)response.StatusCode);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        return events[1..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.GetProperty("choices")[0].GetProperty("delta").Clone()).ToList();
    }
}
