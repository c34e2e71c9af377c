using System.Text.Json.Nodes;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Copal.Cli.Serving;

/// <summary>
/// The endpoints that read the server's state and change nothing: GET /health, /metrics, /v1/models,
/// /v1/models/{id} and /tokenizer_info, each on HEAD too, as health checkers and caches probe with either.
/// </summary>
internal sealed class InfoEndpoints(InferenceEngine engine, IChatFormatter formatter, OpenAiServer server)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public void Map(WebApplication app)
    {
        string[] reads = [HttpMethods.Get, HttpMethods.Head];
        // 503 once a failed forward pass has ended the engine's decoding: it refuses every request from then on.
        app.MapMethods("/health", reads, (HttpContext c) => engine.Fault is not null
            ? JsonResponses.WriteAsync(c, 503, new JsonObject
            {
                ["status"] = "error",
                ["model"] = engine.ModelId,
                ["error"] = "the engine stopped decoding after an internal error and takes no more requests; see the server's log",
            })
            : JsonResponses.WriteAsync(c, 200, new JsonObject
            {
                ["status"] = "ok",
                ["model"] = engine.ModelId,
                ["parallel"] = engine.Options.Parallel,
                ["prefix_cache"] = engine.Options.PrefixCache,
                ["active"] = engine.Statistics.Active,
            }));
        app.MapMethods("/metrics", reads, (HttpContext c) =>
        {
            c.Response.ContentType = PrometheusMetrics.ContentType;
            return c.Response.WriteAsync(PrometheusMetrics.Render(engine, server), c.RequestAborted);
        });
        app.MapMethods("/v1/models", reads, (HttpContext c) => JsonResponses.WriteAsync(c, 200, new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(ModelObject()),
        }));
        app.MapMethods("/v1/models/{id}", reads, (HttpContext c) => (string?)c.Request.RouteValues["id"] == engine.ModelId
            ? JsonResponses.WriteAsync(c, 200, ModelObject())
            : throw new OpenAiException(404, $"the model '{c.Request.RouteValues["id"]}' does not exist; this server serves '{engine.ModelId}'", "model", "model_not_found"));
        app.MapMethods("/tokenizer_info", reads, (HttpContext c) => JsonResponses.WriteAsync(c, 200, OpenAiRequests.TokenizerInfo(engine, formatter)));
    }

    private JsonObject ModelObject() => new()
    {
        ["id"] = engine.ModelId,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "copal",
    };
}
